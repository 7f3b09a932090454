"""The user's shared daemon: ``connect()`` without a path finds it, or starts it with ``llmrec start``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmrec_client


@pytest.fixture
def shared_home(llmrec_bin: Path, dataset: Path, short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Private XDG directories whose configuration serves the fixture dataset; the daemon started
    there is stopped afterwards."""
    runtime = short_tmp / "run"
    runtime.mkdir(mode=0o700)
    config = short_tmp / "config" / "llmrec"
    config.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"data": str(dataset)}))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(short_tmp / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(short_tmp / "state"))
    monkeypatch.setenv("LLMREC_BIN", str(llmrec_bin))
    yield runtime
    subprocess.run([llmrec_bin, "stop"], capture_output=True, timeout=60, check=False)


def test_the_default_socket_follows_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    assert llmrec_client.default_socket_path({"XDG_RUNTIME_DIR": "/run/user/1000"}) == "/run/user/1000/llmrec/llmrec.sock"
    assert llmrec_client.default_socket_path({}) == f"/tmp/llmrec-{os.getuid()}/llmrec.sock"


def test_connect_starts_the_shared_daemon_once_and_finds_it_after(shared_home: Path) -> None:
    socket_path = shared_home / "llmrec" / "llmrec.sock"
    assert not socket_path.exists()
    with llmrec_client.connect() as first:
        first.initialize()
        status = first.server_status()
        with llmrec_client.connect(start=False) as second:
            second.initialize()
            again = second.server_status()
    assert socket_path.exists()
    assert again["processId"] == status["processId"], "the second client reached the same daemon"
    assert again["connectionsAccepted"] == status["connectionsAccepted"] + 1

    async def asynchronous() -> int:
        async with await llmrec_client.connect_async() as client:
            await client.initialize()
            return (await client.server_status())["processId"]

    assert asyncio.run(asynchronous()) == status["processId"]


def test_connect_without_start_does_not_start_one(shared_home: Path) -> None:
    with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        llmrec_client.connect(start=False)
    assert not (shared_home / "llmrec" / "llmrec.sock").exists()


def test_a_daemon_that_cannot_start_is_a_clear_error(shared_home: Path, short_tmp: Path) -> None:
    (short_tmp / "config" / "llmrec" / "config.json").write_text(json.dumps({"data": str(short_tmp / "missing")}))
    with pytest.raises(RuntimeError, match="the daemon exited while starting"):
        llmrec_client.connect()
