"""Lifecycle (spec "Lifecycle", "Transport and framing"): initialize, shutdown, exit, signals, socket file."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

import llmrec_client
from llmrec_client import InvalidRequest, ServerNotInitialized
from support import RawConnection, SocketDaemon, run_async, spawn_stdio

REQUEST_METHODS = {
    "initialize", "shutdown", "catalog/get", "catalog/search", "session/open", "session/observe",
    "session/recommend", "session/get", "session/close", "server/status", "session/message",
    "catalog/add", "model/status", "model/load",
}


def test_initialize_describes_server_dataset_and_limits(raw_client: llmrec_client.Client, catalog: dict) -> None:
    result = raw_client.initialize(client_name="pytest", client_version="1")
    assert result["serverInfo"]["name"] and result["serverInfo"]["version"]
    assert isinstance(result["protocolVersion"], str)
    capabilities = result["capabilities"]
    assert {"methods", "progress", "cancellation", "batches"} <= capabilities.keys()
    assert REQUEST_METHODS <= set(capabilities["methods"])
    loaded = result["loaded"]
    assert loaded["catalogSize"] == len(catalog)
    assert loaded["users"] == 4
    assert isinstance(loaded["dataset"], str) and isinstance(loaded["recommender"], str)
    limits = result["limits"]
    assert limits["maxMessageBytes"] == 4 * 1024 * 1024
    assert limits["maxSessions"] == 10_000 and limits["sessionTtlSeconds"] == 86_400
    for name in ("maxBatchSize", "maxQueuedPerLane", "maxPendingWrites", "maxK"):
        assert isinstance(limits[name], int) and limits[name] > 0, name


def test_requests_before_initialize_are_refused(raw_client: llmrec_client.Client) -> None:
    for call in (raw_client.server_status, lambda: raw_client.session_open(history=[1])):
        with pytest.raises(ServerNotInitialized) as refused:
            call()
        assert refused.value.code == -32002
    raw_client.notify("initialized", {})
    raw_client.initialize()
    assert raw_client.server_status()["uptimeSeconds"] >= 0


def test_async_requests_before_initialize_are_refused(open_async) -> None:
    async def scenario() -> None:
        async with await open_async() as client:
            with pytest.raises(ServerNotInitialized):
                await client.catalog_get([1])
            await client.initialize()
            assert (await client.catalog_get([1]))["items"][0]["itemId"] == 1

    run_async(scenario())


def test_requests_after_shutdown_are_invalid(client: llmrec_client.Client) -> None:
    assert client.shutdown() is None
    with pytest.raises(InvalidRequest) as refused:
        client.server_status()
    assert refused.value.message == "server is shutting down"


@pytest.mark.parametrize(("shut_down_first", "status"), [(True, 0), (False, 1)])
def test_stdio_exit_status(llmrec_bin: Path, dataset: Path, tmp_path: Path, shut_down_first: bool, status: int) -> None:
    with spawn_stdio(llmrec_bin, dataset, tmp_path) as client:
        client.initialize()
        if shut_down_first:
            client.shutdown()
        client.exit()
        assert client.wait(timeout=30) == status


def test_stdio_daemon_exits_at_end_of_input(llmrec_bin: Path, dataset: Path, tmp_path: Path) -> None:
    client = spawn_stdio(llmrec_bin, dataset, tmp_path)
    client.initialize()
    client.close()
    assert client.process is not None and client.process.returncode >= 0, "killed: it did not exit at end of input"


def test_async_stdio_exit_after_shutdown(llmrec_bin: Path, dataset: Path) -> None:
    async def scenario() -> None:
        client = await llmrec_client.spawn_async(llmrec_bin, ["serve", "--stdio", "--data", str(dataset)])
        async with client:
            await client.initialize()
            await client.shutdown()
            await client.exit()
            assert await client.wait() == 0

    run_async(scenario())


def test_socket_exit_closes_only_that_connection(socket_daemon: SocketDaemon) -> None:
    with RawConnection(socket_daemon.path) as first, RawConnection(socket_daemon.path) as second:
        first.initialize()
        second.initialize()
        first.send_message({"jsonrpc": "2.0", "method": "exit"})
        assert first.closed_by_daemon()
        assert "result" in second.request(1, "server/status")
    assert socket_daemon.process.poll() is None


def test_socket_is_owner_only(socket_daemon: SocketDaemon) -> None:
    mode = socket_daemon.path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_sigterm_lets_in_flight_work_finish_and_exits_zero(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    daemon = SocketDaemon.start(llmrec_bin, dataset, short_tmp / "d.sock")
    with llmrec_client.connect(daemon.path, timeout=30) as client:
        client.initialize()
        session = client.session_open(history=[1])["sessionId"]
        pending = [client.submit("session/recommend", {"sessionId": session, "k": 3}) for _ in range(20)]
        status = daemon.stop()
        for request in pending:
            assert request.result(30)["sessionId"] == session
    assert status == 0, daemon.log()


def test_stale_socket_is_replaced(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    path = short_tmp / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as abandoned:
        abandoned.bind(str(path))
    daemon = SocketDaemon.start(llmrec_bin, dataset, path)
    try:
        with llmrec_client.connect(path, timeout=30) as client:
            assert client.initialize()["loaded"]["catalogSize"] > 0
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_refuses_a_regular_file_at_the_socket_path(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    path = short_tmp / "taken"
    path.write_text("not a socket")
    with pytest.raises(AssertionError, match=r"exited with -?[1-9]"):
        SocketDaemon.start(llmrec_bin, dataset, path, timeout=30)
    assert path.read_text() == "not a socket"


def test_refuses_socket_paths_over_107_bytes(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    path = short_tmp / ("s" * (108 - len(str(short_tmp)) - 1))
    assert len(str(path).encode()) == 108
    with pytest.raises(AssertionError, match=r"exited with -?[1-9]"):
        SocketDaemon.start(llmrec_bin, dataset, path, timeout=30)
