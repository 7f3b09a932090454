"""Helpers for the daemon tests: a socket daemon process, a raw wire connection, async runner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llmrec_client
from llmrec_client import FrameDecoder, encode_message
from llmrec_client.dispatch import NotificationCallback

REPO = Path(__file__).resolve().parents[3]
REQUEST_TIMEOUT = 30.0


def read_catalog(dataset: Path) -> dict[int, dict[str, Any]]:
    """``catalog.jsonl`` of a prepared dataset, by dense item id."""
    lines = (dataset / "catalog.jsonl").read_text(encoding="utf-8").splitlines()
    return {entry["id"]: entry for entry in map(json.loads, lines)}


def run_async(coroutine: Any, timeout: float = 60.0) -> Any:
    """Runs a test coroutine on a fresh event loop, failing it after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def spawn_stdio(
    llmrec_bin: Path,
    dataset: Path,
    log_dir: Path,
    extra_args: Sequence[str] = (),
    on_notification: NotificationCallback | None = None,
) -> llmrec_client.Client:
    """A sync client on a fresh ``serve --stdio`` daemon whose stderr goes to ``log_dir``."""
    with open(log_dir / "stdio-daemon.log", "ab") as stderr:
        return llmrec_client.spawn(
            llmrec_bin,
            ["serve", "--stdio", "--data", str(dataset), *extra_args],
            stderr=stderr,
            timeout=REQUEST_TIMEOUT,
            on_notification=on_notification,
        )


@dataclass
class SocketDaemon:
    """A ``llmrec serve --socket PATH`` process; its stdout and stderr go to ``log_path``."""

    process: subprocess.Popen[bytes]
    path: Path
    log_path: Path

    @staticmethod
    @contextlib.contextmanager
    def short_dir() -> Iterator[Path]:
        """A temporary directory under /tmp, short enough for socket paths (at most 107 bytes)."""
        with tempfile.TemporaryDirectory(prefix="llmrec-", dir="/tmp") as directory:
            yield Path(directory)

    @classmethod
    def start(
        cls, binary: Path, dataset: Path, path: Path, extra_args: Sequence[str] = (), timeout: float = 60.0
    ) -> SocketDaemon:
        """Starts the daemon and waits until the socket accepts connections."""
        log_path = path.with_name(path.name + ".log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [binary, "serve", "--socket", path, "--data", dataset, *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        daemon = cls(process, path, log_path)
        daemon._wait_until_listening(timeout)
        return daemon

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Sends ``signum`` and returns the exit status (kills the process if it does not end in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"daemon ignored {signum.name} for {timeout} s; killed. Log:\n{self.log()}") from None

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode} before listening. Log:\n{self.log()}")
            if self.path.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    try:
                        probe.connect(str(self.path))
                        return
                    except OSError:
                        pass
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        raise AssertionError(f"daemon did not listen on {self.path} within {timeout} s. Log:\n{self.log()}")


class RawConnection:
    """A Unix socket connection that sends arbitrary bytes and reads framed replies, for wire tests."""

    def __init__(self, path: Path, timeout: float = REQUEST_TIMEOUT) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self._decoder = FrameDecoder()
        self._bodies: list[bytes] = []

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_message(self, message: Any) -> None:
        self.send(encode_message(message))

    def receive(self) -> Any:
        """The next message, decoded; raises ``EOFError`` if the daemon closes the connection first."""
        while not self._bodies:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self._bodies.extend(self._decoder.feed(chunk))
        return json.loads(self._bodies.pop(0))

    def request(self, request_id: Any, method: str, params: Any = None) -> Any:
        """Sends a request and returns its response (messages in between are dropped)."""
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send_message(message)
        while True:
            reply = self.receive()
            if isinstance(reply, dict) and reply.get("id") == request_id and "method" not in reply:
                return reply

    def initialize(self) -> Any:
        reply = self.request("init", "initialize", {"clientInfo": {"name": "raw-test"}})
        assert "result" in reply, reply
        return reply["result"]

    def closed_by_daemon(self) -> bool:
        """True if the daemon closes the connection (after any replies still in flight)."""
        try:
            while True:
                self.receive()
        except (EOFError, ConnectionResetError):
            return True
        except TimeoutError:
            return False
