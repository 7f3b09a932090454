#!/usr/bin/env python3
"""Benchmarks the LLMRec daemon over its Unix socket, and a warm daemon against a one-shot process.

1. Starts `llmrec serve --socket` on a prepared dataset, opens one session per user for the first
   --users users (history: the user's rows of train.tsv), and for 1, 8 and 64 concurrent clients
   (each its own connection, all on one asyncio loop) sends `session/recommend` (k=10) back to back
   for --duration seconds: requests/s, p50 and p99 latency.
2. Compares the time a warm daemon takes to answer one recommend (on an open connection, and from a
   fresh connection: connect, initialize, open, recommend) with a one-shot
   `llmrec recommend --data DIR --history 1,2,3 --k 10` process (median of --runs runs).

With --multi it measures the deployment of several daemons on one Redis instead (Protocol/spec.md,
"Several daemons on one Redis"): a redis-server of its own (append-only file, fsync always), and in
one run one daemon with the local journal (--state), then 1, 2 and 3 daemons on that Redis
(--store). --clients connections are spread over the daemons as a round-robin load balancer would;
each sends `session/observe` (one event) and `session/recommend` (k=10) in turn, on sessions drawn at
random, so most requests land on a daemon that did not serve the session's previous one. It prints
requests/s and p99 with their ratio to the local journal, and, with an encoder, how long an item
added on one daemon takes to be known by another (median and maximum of --runs additions).

The client is Python (Clients/python), so at high concurrency it may limit the throughput measured;
its CPU time per level is reported next to the daemon's. Ratios matter more than absolute times here.

usage: scripts/bench-daemon.py [--data DIR] [--bin PATH] [--users N] [--duration S] [--runs N] [--json]
       scripts/bench-daemon.py --multi [--clients N] [--fsync always|everysec] [--encoder DIR] [--data DIR] [--bin PATH] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import signal
import socket as socket_module
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Clients" / "python"))

import llmrec_client  # noqa: E402

CONCURRENCY = (1, 8, 64)
K = 10
ONE_SHOT_HISTORY = [1, 2, 3]


@dataclass
class LevelResult:
    clients: int
    requests: int
    overloaded: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    daemon_cpu_seconds: float
    client_cpu_seconds: float


@dataclass
class ColdWarmResult:
    daemon_startup_ms: float
    warm_recommend_ms: float
    warm_fresh_connection_ms: float
    one_shot_ms: float | None
    one_shot_error: str | None
    one_shot_over_warm: float | None
    one_shot_over_fresh_connection: float | None


def default_data_dir() -> Path:
    home = os.environ.get("LLMREC_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmrec"
    return Path(home) / "data" / "ml-100k"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="prepared dataset (default: %(default)s)")
    parser.add_argument("--bin", type=Path, default=REPO / ".build" / "release" / "llmrec", help="llmrec binary (default: %(default)s)")
    parser.add_argument("--users", type=int, default=200, help="sessions to open, one per user of train.tsv (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per concurrency level (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=7, help="runs for each one-shot / warm median (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--multi", action="store_true", help="several daemons on one Redis against one with the local journal")
    parser.add_argument(
        "--fsync", choices=("always", "everysec"), default="always",
        help="--multi: Redis's appendfsync (always: every acknowledged change on disk; default: %(default)s)")
    parser.add_argument("--clients", type=int, default=32, help="--multi: concurrent connections (default: %(default)s)")
    parser.add_argument(
        "--encoder", type=Path, default=default_data_dir().parent.parent / "assets" / "minilm-l6-v2",
        help="--multi: sentence encoder for catalog/add, to measure how fast an item reaches the other daemons (default: %(default)s)")
    return parser.parse_args()


def log(message: str) -> None:
    print(f"bench-daemon: {message}", file=sys.stderr, flush=True)


def read_histories(train: Path, users: int) -> list[list[int]]:
    """Item histories of the first ``users`` users of ``train.tsv`` (header, then user item timestamp_ms)."""
    histories: dict[int, list[int]] = defaultdict(list)
    with open(train, encoding="utf-8") as rows:
        next(rows)
        for row in rows:
            user, item, _ = row.split("\t", 2)
            if int(user) not in histories and len(histories) == users:
                break
            histories[int(user)].append(int(item))
    return list(histories.values())


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


class Daemon:
    """`llmrec serve --socket` in a temporary directory; its output goes to a log file."""

    def __init__(self, binary: Path, data: Path, arguments: tuple = ()) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="llmrec-bench-", dir="/tmp")
        self.socket = Path(self._directory.name) / "llmrec.sock"
        self.log_path = Path(self._directory.name) / "daemon.log"
        started = time.perf_counter()
        with open(self.log_path, "wb") as output:
            self.process = subprocess.Popen(
                [binary, "serve", "--socket", self.socket, "--data", data, *arguments],
                stdin=subprocess.DEVNULL, stdout=output, stderr=output,
            )
        self._wait_until_answering()
        self.startup_seconds = time.perf_counter() - started

    def _wait_until_answering(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench-daemon: daemon exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                with llmrec_client.connect(self.socket, timeout=timeout) as client:
                    client.initialize()
                return
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.01)
        self.stop()
        raise SystemExit(f"bench-daemon: daemon did not answer within {timeout} s")

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the daemon so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._directory.cleanup()


async def open_sessions(socket: Path, histories: list[list[int]]) -> list[str]:
    async with await llmrec_client.connect_async(socket) as client:
        await client.initialize()
        opened = await asyncio.gather(*(client.session_open(history=history) for history in histories))
    return [reply["sessionId"] for reply in opened]


async def run_level(daemon: Daemon, sessions: list[str], clients: int, duration: float) -> LevelResult:
    """``clients`` connections, each sending recommends back to back until ``duration`` has passed
    (after a warm-up of up to one second that is not measured)."""
    connections = [await llmrec_client.connect_async(daemon.socket) for _ in range(clients)]
    latencies: list[float] = []
    overloaded = 0

    async def drive(index: int, client: llmrec_client.AsyncClient, deadline: float) -> None:
        nonlocal overloaded
        turn = index
        while time.perf_counter() < deadline:
            session = sessions[turn % len(sessions)]
            turn += clients
            started = time.perf_counter()
            try:
                await client.session_recommend(session, k=K)
            except llmrec_client.Overloaded:
                overloaded += 1
                continue
            latencies.append(time.perf_counter() - started)

    try:
        for client in connections:
            await client.initialize()
        await asyncio.gather(*(drive(i, c, time.perf_counter() + min(1.0, duration)) for i, c in enumerate(connections)))
        latencies.clear()
        overloaded = 0
        client_cpu_before, daemon_cpu_before = client_cpu_seconds(), daemon.cpu_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(drive(i, c, started + duration) for i, c in enumerate(connections)))
        seconds = time.perf_counter() - started
        client_cpu, daemon_cpu = client_cpu_seconds() - client_cpu_before, daemon.cpu_seconds() - daemon_cpu_before
    finally:
        await asyncio.gather(*(client.close() for client in connections))
    if not latencies:
        raise SystemExit(f"bench-daemon: no recommend succeeded with {clients} clients ({overloaded} overloaded)")
    latencies.sort()
    return LevelResult(
        clients=clients,
        requests=len(latencies),
        overloaded=overloaded,
        seconds=seconds,
        requests_per_second=len(latencies) / seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        daemon_cpu_seconds=daemon_cpu,
        client_cpu_seconds=client_cpu,
    )


def warm_timings(socket: Path, runs: int) -> tuple[float, float]:
    """Median seconds for one recommend on an open connection, and from a fresh connection."""
    with llmrec_client.connect(socket, timeout=60) as client:
        client.initialize()
        session = client.session_open(history=ONE_SHOT_HISTORY)["sessionId"]
        on_connection = []
        for _ in range(runs):
            started = time.perf_counter()
            client.session_recommend(session, k=K)
            on_connection.append(time.perf_counter() - started)
    fresh = []
    for _ in range(runs):
        started = time.perf_counter()
        with llmrec_client.connect(socket, timeout=60) as client:
            client.initialize()
            session = client.session_open(history=ONE_SHOT_HISTORY)["sessionId"]
            client.session_recommend(session, k=K)
        fresh.append(time.perf_counter() - started)
    return statistics.median(on_connection), statistics.median(fresh)


def one_shot_timing(binary: Path, data: Path, runs: int) -> tuple[float | None, str | None]:
    """Median seconds of `llmrec recommend` processes, or the reason the command failed."""
    command = [binary, "recommend", "--data", data, "--history", ",".join(map(str, ONE_SHOT_HISTORY)), "--k", str(K)]
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True)
        durations.append(time.perf_counter() - started)
        if finished.returncode != 0:
            shown = " ".join(map(str, command))
            return None, f"`{shown}` exited with {finished.returncode}: {finished.stderr.strip() or finished.stdout.strip()}"
        try:
            json.loads(finished.stdout)
        except json.JSONDecodeError:
            return None, f"`llmrec recommend` printed something that is not one JSON object: {finished.stdout[:200]!r}"
    return statistics.median(durations), None


def camel_case(fields: dict) -> dict:
    """``asdict`` output with camelCase keys, as the project's other JSON reports."""
    def convert(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.capitalize() for part in rest)

    return {convert(name): value for name, value in fields.items()}


def ratio(numerator: float | None, denominator: float) -> float | None:
    return numerator / denominator if numerator is not None and denominator > 0 else None


def print_table(arguments: argparse.Namespace, levels: list[LevelResult], cold_warm: ColdWarmResult) -> None:
    print(f"LLMRec daemon benchmark: {arguments.data} ({arguments.users} sessions, k={K}, {arguments.duration:g} s per level)")
    print(f"binary: {arguments.bin}")
    print()
    print("| clients | requests/s | p50 ms | p99 ms | requests | overloaded | daemon CPU s | client CPU s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in levels:
        print(
            f"| {level.clients} | {level.requests_per_second:,.0f} | {level.p50_ms:.3f} | {level.p99_ms:.3f} | "
            f"{level.requests:,} | {level.overloaded:,} | {level.daemon_cpu_seconds:.2f} | {level.client_cpu_seconds:.2f} |"
        )
    print()
    print(f"| one recommend (median of {arguments.runs}) | ms |")
    print("|---|---:|")
    print(f"| daemon startup to first answer | {cold_warm.daemon_startup_ms:.1f} |")
    print(f"| warm daemon, open connection | {cold_warm.warm_recommend_ms:.3f} |")
    print(f"| warm daemon, fresh connection (connect, initialize, open, recommend) | {cold_warm.warm_fresh_connection_ms:.3f} |")
    if cold_warm.one_shot_ms is None:
        print("| one-shot `llmrec recommend` process | FAILED |")
        print()
        print(f"one-shot command failed: {cold_warm.one_shot_error}")
        return
    print(f"| one-shot `llmrec recommend` process | {cold_warm.one_shot_ms:.1f} |")
    print()
    print(
        f"one-shot / warm daemon: {cold_warm.one_shot_over_warm:,.0f}x on an open connection, "
        f"{cold_warm.one_shot_over_fresh_connection:,.1f}x from a fresh connection"
    )


class RedisServer:
    """A redis-server of the benchmark's own: a temporary directory, a free port, AOF synced as ``fsync`` says."""

    def __init__(self, fsync: str) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="llmrec-bench-redis-", dir="/tmp")
        probe = socket_module.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self._directory.name, "--appendonly", "yes",
             "--appendfsync", fsync, "--save", "", "--logfile", str(Path(self._directory.name) / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket_module.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise SystemExit("bench-daemon: redis-server did not start (is Debian's redis-server installed?)")

    def flush(self) -> None:
        with socket_module.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(b"FLUSHALL\r\n")
            connection.recv(16)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self._directory.cleanup()


@dataclass
class DeploymentResult:
    deployment: str
    daemons: int
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    daemon_cpu_seconds: float
    redis_cpu_seconds: float | None
    client_cpu_seconds: float


async def run_deployment(
    name: str, daemons: list[Daemon], redis: RedisServer | None, histories: list[list[int]], clients: int, duration: float
) -> DeploymentResult:
    """``clients`` connections spread round-robin over ``daemons``; each alternates an observe and a
    recommend on a random session until ``duration`` has passed (after one unmeasured second)."""
    async with await llmrec_client.connect_async(daemons[0].socket) as opener:
        await opener.initialize()
        opened = await asyncio.gather(*(opener.session_open(history=history) for history in histories))
    sessions = [reply["sessionId"] for reply in opened]
    items = sorted({item for history in histories for item in history})
    connections = [await llmrec_client.connect_async(daemons[index % len(daemons)].socket) for index in range(clients)]
    latencies: list[float] = []

    async def drive(index: int, client: llmrec_client.AsyncClient, deadline: float) -> None:
        generator = random.Random(index)
        while time.perf_counter() < deadline:
            session = generator.choice(sessions)
            started = time.perf_counter()
            await client.session_observe(session, [{"itemId": generator.choice(items), "kind": "viewed"}])
            latencies.append(time.perf_counter() - started)
            started = time.perf_counter()
            await client.session_recommend(session, k=K)
            latencies.append(time.perf_counter() - started)

    try:
        for client in connections:
            await client.initialize()
        await asyncio.gather(*(drive(i, c, time.perf_counter() + 1.0) for i, c in enumerate(connections)))
        latencies.clear()
        client_before = client_cpu_seconds()
        daemons_before = sum(daemon.cpu_seconds() for daemon in daemons)
        redis_before = redis.cpu_seconds() if redis else None
        started = time.perf_counter()
        await asyncio.gather(*(drive(i, c, started + duration) for i, c in enumerate(connections)))
        seconds = time.perf_counter() - started
        daemon_cpu = sum(daemon.cpu_seconds() for daemon in daemons) - daemons_before
        redis_cpu = redis.cpu_seconds() - redis_before if redis and redis_before is not None else None
        client_cpu = client_cpu_seconds() - client_before
    finally:
        await asyncio.gather(*(client.close() for client in connections))
    latencies.sort()
    return DeploymentResult(
        deployment=name, daemons=len(daemons), requests=len(latencies), seconds=seconds,
        requests_per_second=len(latencies) / seconds, p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000, daemon_cpu_seconds=daemon_cpu, redis_cpu_seconds=redis_cpu,
        client_cpu_seconds=client_cpu,
    )


def item_propagation(daemons: list[Daemon], runs: int) -> list[float]:
    """Seconds from `catalog/add` answered on daemon 0 to `catalog/get` finding the item on daemon 1."""
    delays = []
    with llmrec_client.connect(daemons[0].socket, timeout=60) as adder, llmrec_client.connect(daemons[1].socket, timeout=60) as reader:
        adder.initialize()
        reader.initialize()
        for run in range(runs):
            added = adder.request("catalog/add", {"items": [{"title": f"Benchmark item {run} {time.time()}"}]})
            item = added["items"][0]["itemId"]
            acknowledged = time.perf_counter()
            while True:
                try:
                    reader.request("catalog/get", {"itemIds": [item]})
                    break
                except llmrec_client.LLMRecError:
                    continue
            delays.append(time.perf_counter() - acknowledged)
    return delays


def run_multi(arguments: argparse.Namespace, histories: list[list[int]]) -> int:
    """Local journal against 1, 2 and 3 daemons on one Redis; prints the table (or JSON)."""
    results: list[DeploymentResult] = []
    with tempfile.TemporaryDirectory(prefix="llmrec-bench-state-", dir="/tmp") as state:
        log("1 daemon with the local journal (--state)")
        daemon = Daemon(arguments.bin, arguments.data, ("--state", state))
        try:
            results.append(asyncio.run(run_deployment("local journal", [daemon], None, histories, arguments.clients, arguments.duration)))
        finally:
            daemon.stop()
    redis = RedisServer(arguments.fsync)
    propagation: list[float] = []
    encoder = ("--encoder", str(arguments.encoder)) if (arguments.encoder / "model.safetensors").is_file() else ()
    try:
        for count in (1, 2, 3):
            redis.flush()
            log(f"{count} daemon(s) on one Redis (--store {redis.url})")
            daemons = [Daemon(arguments.bin, arguments.data, ("--store", redis.url, *encoder)) for _ in range(count)]
            try:
                results.append(asyncio.run(run_deployment("redis", daemons, redis, histories, arguments.clients, arguments.duration)))
                if count >= 2 and encoder and not propagation:
                    log("an item added on one daemon, until another knows it")
                    propagation = item_propagation(daemons, arguments.runs)
            finally:
                for daemon in daemons:
                    daemon.stop()
    finally:
        redis.stop()
    baseline = results[0]
    if arguments.json:
        print(json.dumps({
            "binary": str(arguments.bin), "data": str(arguments.data), "clients": arguments.clients, "durationSeconds": arguments.duration,
            "appendfsync": arguments.fsync,
            "deployments": [camel_case(asdict(result)) | {"overLocal": result.requests_per_second / baseline.requests_per_second}
                            for result in results],
            "itemPropagationSeconds": propagation,
        }, indent=2))
        return 0
    print(f"LLMRec multi-daemon benchmark: {arguments.data} ({len(histories)} sessions, {arguments.clients} clients, "
          f"observe + recommend k={K}, {arguments.duration:g} s each; appendfsync {arguments.fsync}; {os.cpu_count()} cores)")
    print()
    print("| deployment | daemons | requests/s | x local | p50 ms | p99 ms | daemons CPU s | redis CPU s | client CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        redis_cpu = f"{result.redis_cpu_seconds:.2f}" if result.redis_cpu_seconds is not None else "-"
        print(
            f"| {result.deployment} | {result.daemons} | {result.requests_per_second:,.0f} | "
            f"{result.requests_per_second / baseline.requests_per_second:.2f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | "
            f"{result.daemon_cpu_seconds:.2f} | {redis_cpu} | {result.client_cpu_seconds:.2f} |"
        )
    if propagation:
        print()
        print(f"item added on daemon 0, known on daemon 1 after: median {statistics.median(propagation) * 1000:.2f} ms, "
              f"max {max(propagation) * 1000:.2f} ms ({len(propagation)} additions)")
    elif not encoder:
        print()
        print(f"(no encoder at {arguments.encoder}: item propagation not measured; scripts/fetch-assets.sh minilm)")
    return 0


def main() -> int:
    arguments = parse_arguments()
    if not arguments.bin.is_file():
        raise SystemExit(f"bench-daemon: no llmrec binary at {arguments.bin} (swift build -c release, or --bin)")
    if not (arguments.data / "train.tsv").is_file():
        raise SystemExit(f"bench-daemon: {arguments.data} is not a prepared dataset (no train.tsv; see llmrec prepare)")
    histories = read_histories(arguments.data / "train.tsv", arguments.users)
    arguments.users = len(histories)
    if arguments.multi:
        return run_multi(arguments, histories)

    log(f"starting {arguments.bin} serve on {arguments.data}")
    daemon = Daemon(arguments.bin, arguments.data)
    try:
        sessions = asyncio.run(open_sessions(daemon.socket, histories))
        levels = []
        for clients in CONCURRENCY:
            log(f"{clients} concurrent client(s) for {arguments.duration:g} s")
            levels.append(asyncio.run(run_level(daemon, sessions, clients, arguments.duration)))
        log("warm daemon against one-shot process")
        warm, fresh = warm_timings(daemon.socket, arguments.runs)
    finally:
        daemon.stop()
    one_shot, one_shot_error = one_shot_timing(arguments.bin, arguments.data, arguments.runs)
    cold_warm = ColdWarmResult(
        daemon_startup_ms=daemon.startup_seconds * 1000,
        warm_recommend_ms=warm * 1000,
        warm_fresh_connection_ms=fresh * 1000,
        one_shot_ms=one_shot * 1000 if one_shot is not None else None,
        one_shot_error=one_shot_error,
        one_shot_over_warm=ratio(one_shot, warm),
        one_shot_over_fresh_connection=ratio(one_shot, fresh),
    )
    if arguments.json:
        report = {
            "binary": str(arguments.bin),
            "data": str(arguments.data),
            "sessions": arguments.users,
            "k": K,
            "durationSeconds": arguments.duration,
            "levels": [camel_case(asdict(level)) for level in levels],
            "coldWarm": camel_case(asdict(cold_warm)),
        }
        print(json.dumps(report, indent=2))
    else:
        print_table(arguments, levels, cold_warm)
    if one_shot_error is not None:
        log(f"one-shot command failed: {one_shot_error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
