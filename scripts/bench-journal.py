#!/usr/bin/env python3
"""Benchmarks what the session journal costs the daemon: updates under load, and the latency other
clients see while one client floods updates.

For each binary (--bin, and --compare-bin when given, e.g. a build from before a change) and for the
daemon without and with `--state` (every acknowledged update durable):
1. --clients connections send `session/observe` (one event, each on its own session) back to back
   for --duration seconds, after an unmeasured second: requests/s, p50 and p99 latency.
2. One connection floods `session/observe` (--flood-depth requests in flight) while another sends
   `server/status` every 10 ms: that client's p50 and p99.
Ratios (with state / without state) are printed per binary.

usage: scripts/bench-journal.py [--data DIR] [--bin PATH] [--compare-bin PATH] [--clients N] [--duration S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Clients" / "python"))

import llmrec_client  # noqa: E402


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    home = Path(os.environ.get("LLMREC_HOME", Path.home() / ".cache" / "llmrec"))
    parser.add_argument("--data", type=Path, default=home / "data" / "ml-100k", help="prepared dataset (default: %(default)s)")
    parser.add_argument("--bin", type=Path, default=REPO / ".build" / "release" / "llmrec", help="llmrec binary (default: %(default)s)")
    parser.add_argument("--compare-bin", type=Path, help="a second llmrec binary measured the same way")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients for the throughput run (default: %(default)s)")
    parser.add_argument("--flood-depth", type=int, default=32, help="observes in flight on the flooding connection (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    return parser.parse_args()


def log(message: str) -> None:
    print(f"bench-journal: {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)] if sorted_values else float("nan")


class Daemon:
    """`llmrec serve --socket` in a temporary directory (its state there too, with --state)."""

    def __init__(self, binary: Path, data: Path, durable: bool) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="llmrec-bench-", dir="/tmp")
        self.socket = Path(self._directory.name) / "llmrec.sock"
        log_path = Path(self._directory.name) / "daemon.log"
        command = [binary, "serve", "--socket", self.socket, "--data", data]
        if durable:
            command += ["--state", Path(self._directory.name) / "state"]
        with open(log_path, "wb") as output:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench-journal: daemon exited with {self.process.returncode}:\n{log_path.read_text()}")
            try:
                with llmrec_client.connect(self.socket, timeout=10) as client:
                    client.initialize()
                return
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.01)
        raise SystemExit("bench-journal: daemon did not answer within 120 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._directory.cleanup()


async def throughput(daemon: Daemon, clients: int, duration: float) -> dict:
    connections = [await llmrec_client.connect_async(daemon.socket) for _ in range(clients)]
    latencies: list[float] = []
    try:
        for index, client in enumerate(connections):
            await client.initialize()
            await client.session_open(session_id=f"t{index}")

        async def drive(index: int, client: llmrec_client.AsyncClient, deadline: float) -> None:
            step = 0
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await client.session_observe(f"t{index}", [{"itemId": step % 50 + 1, "kind": "viewed"}])
                latencies.append(time.perf_counter() - started)
                step += 1

        # A warm-up of up to one second that is not measured (the first run of a process is slower).
        await asyncio.gather(*(drive(i, c, time.perf_counter() + min(1.0, duration)) for i, c in enumerate(connections)))
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(drive(i, c, started + duration) for i, c in enumerate(connections)))
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(client.close() for client in connections))
    latencies.sort()
    return {
        "requestsPerSecond": len(latencies) / seconds,
        "p50Ms": percentile(latencies, 0.5) * 1000,
        "p99Ms": percentile(latencies, 0.99) * 1000,
        "requests": len(latencies),
    }


async def flood(daemon: Daemon, depth: int, duration: float) -> dict:
    flooder = await llmrec_client.connect_async(daemon.socket)
    observer = await llmrec_client.connect_async(daemon.socket)
    status_latencies: list[float] = []
    observes = 0
    try:
        await flooder.initialize()
        await observer.initialize()
        await flooder.session_open(session_id="flood")
        deadline = time.perf_counter() + duration

        async def flood_lane(lane: int) -> None:
            nonlocal observes
            step = lane
            while time.perf_counter() < deadline:
                await flooder.session_observe("flood", [{"itemId": step % 50 + 1, "kind": "viewed"}])
                observes += 1
                step += depth

        async def watch() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await observer.server_status()
                status_latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.01)

        await asyncio.gather(watch(), *(flood_lane(lane) for lane in range(depth)))
    finally:
        await flooder.close()
        await observer.close()
    status_latencies.sort()
    return {
        "statusP50Ms": percentile(status_latencies, 0.5) * 1000,
        "statusP99Ms": percentile(status_latencies, 0.99) * 1000,
        "floodObservesPerSecond": observes / duration,
    }


def measure(binary: Path, arguments: argparse.Namespace) -> dict:
    result = {}
    for durable in (False, True):
        label = "state" if durable else "memory"
        log(f"{binary}: {'with' if durable else 'without'} --state")
        daemon = Daemon(binary, arguments.data, durable)
        try:
            result[label] = {
                "throughput": asyncio.run(throughput(daemon, arguments.clients, arguments.duration)),
                "flood": asyncio.run(flood(daemon, arguments.flood_depth, arguments.duration)),
            }
        finally:
            daemon.stop()
    return result


def print_tables(arguments: argparse.Namespace, results: dict[str, dict]) -> None:
    print(f"LLMRec journal benchmark: {arguments.data} ({arguments.clients} clients, {arguments.duration:g} s per run)")
    print()
    print(f"| binary | journal | observes/s ({arguments.clients} clients) | p50 ms | p99 ms "
          f"| other client's server/status p50 ms | p99 ms (one client flooding, {arguments.flood_depth} in flight) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for binary, result in results.items():
        for label in ("memory", "state"):
            run = result[label]
            print(
                f"| {binary} | {'--state' if label == 'state' else 'none'} | {run['throughput']['requestsPerSecond']:,.0f} | "
                f"{run['throughput']['p50Ms']:.2f} | {run['throughput']['p99Ms']:.2f} | "
                f"{run['flood']['statusP50Ms']:.2f} | {run['flood']['statusP99Ms']:.2f} |"
            )
    print()
    for binary, result in results.items():
        throughput_ratio = result["state"]["throughput"]["requestsPerSecond"] / result["memory"]["throughput"]["requestsPerSecond"]
        print(f"{binary}: with --state, {throughput_ratio:.2f}x the observes/s of no journal; another client's status p99 "
              f"{result['state']['flood']['statusP99Ms']:.1f} ms against {result['memory']['flood']['statusP99Ms']:.1f} ms")


def main() -> int:
    arguments = parse_arguments()
    binaries = [arguments.bin] + ([arguments.compare_bin] if arguments.compare_bin else [])
    for binary in binaries:
        if not binary.is_file():
            raise SystemExit(f"bench-journal: no llmrec binary at {binary} (swift build -c release, or --bin)")
    if not (arguments.data / "train.tsv").is_file():
        raise SystemExit(f"bench-journal: {arguments.data} is not a prepared dataset (no train.tsv; see llmrec prepare)")
    results = {str(binary): measure(binary, arguments) for binary in binaries}
    if arguments.json:
        print(json.dumps({"data": str(arguments.data), "clients": arguments.clients, "results": results}, indent=2))
    else:
        print_tables(arguments, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
