"""Session lifetime, persistence and back-pressure (spec "Sessions", "Scheduling and limits")."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

import llmrec_client
from llmrec_client import Overloaded, SessionNotFound, encode_message
from support import RawConnection, SocketDaemon


def test_state_journal_survives_sigkill(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    state = short_tmp / "state"
    state.mkdir()
    socket_path = short_tmp / "j.sock"
    daemon = SocketDaemon.start(llmrec_bin, dataset, socket_path, ["--state", str(state)])
    with llmrec_client.connect(socket_path, timeout=30) as client:
        client.initialize()
        kept = client.session_open(history=[1, 2], session_id="journal-kept")["sessionId"]
        client.session_observe(kept, [(3, "rejected"), (4, "bought")])
        closed = client.session_open(history=[5])["sessionId"]
        client.session_close(closed)
        before = client.session_get(kept)
    daemon.stop(signal.SIGKILL)
    assert (state / "sessions.journal").is_file()

    restarted = SocketDaemon.start(llmrec_bin, dataset, socket_path, ["--state", str(state)])
    try:
        with llmrec_client.connect(socket_path, timeout=30) as client:
            client.initialize()
            after = client.session_get(kept)
            for field in ("history", "events", "rejected", "createdAt"):
                assert after[field] == before[field], field
            with pytest.raises(SessionNotFound):
                client.session_get(closed)
            assert {item["itemId"] for item in client.session_recommend(kept)["items"]}.isdisjoint({1, 2, 3, 4})
    finally:
        assert restarted.stop() == 0, restarted.log()


def test_idle_sessions_expire_after_the_ttl(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    daemon = SocketDaemon.start(llmrec_bin, dataset, short_tmp / "t.sock", ["--session-ttl", "1"])
    try:
        with llmrec_client.connect(daemon.path, timeout=30) as client:
            assert client.initialize()["limits"]["sessionTtlSeconds"] == 1
            session = client.session_open(history=[1])["sessionId"]
            time.sleep(1.6)
            with pytest.raises(SessionNotFound):
                client.session_get(session)
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_least_recently_used_session_is_evicted(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    daemon = SocketDaemon.start(llmrec_bin, dataset, short_tmp / "l.sock", ["--max-sessions", "2"])
    try:
        with llmrec_client.connect(daemon.path, timeout=30) as client:
            assert client.initialize()["limits"]["maxSessions"] == 2
            first = client.session_open(history=[1])["sessionId"]
            second = client.session_open(history=[2])["sessionId"]
            client.session_recommend(first)
            third = client.session_open(history=[3])["sessionId"]
            with pytest.raises(SessionNotFound):
                client.session_get(second)
            assert client.session_get(first)["history"] == [1]
            assert client.session_get(third)["history"] == [3]
            assert client.server_status()["sessions"] == 2
    finally:
        assert daemon.stop() == 0, daemon.log()


def overloaded_errors_in_a_burst(wire: RawConnection, session: str, size: int) -> list[dict]:
    """Pipelines ``size`` recommends and a status request in one write; returns the error replies."""
    requests = (
        {"jsonrpc": "2.0", "id": index, "method": "session/recommend", "params": {"sessionId": session}}
        for index in range(size)
    )
    wire.send(b"".join(map(encode_message, requests)) + encode_message({"jsonrpc": "2.0", "id": "status", "method": "server/status"}))
    replies = [wire.receive() for _ in range(size + 1)]
    assert any(reply["id"] == "status" and "result" in reply for reply in replies)
    return [reply["error"] for reply in replies if "error" in reply]


def test_full_lane_answers_overloaded_and_cheap_requests_still_pass(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    daemon = SocketDaemon.start(llmrec_bin, dataset, short_tmp / "o.sock", ["--max-queued-per-lane", "1"])
    try:
        with RawConnection(daemon.path) as wire:
            assert wire.initialize()["limits"]["maxQueuedPerLane"] == 1
            session = wire.request(1, "session/open", {"history": [1]})["result"]["sessionId"]
            errors: list[dict] = []
            for _ in range(5):
                errors = overloaded_errors_in_a_burst(wire, session, 500)
                if errors:
                    break
            assert errors, "bursts of 500 recommends on a lane of capacity 1 were never refused"
            for error in errors:
                assert error["code"] == Overloaded.code and error["data"] == {"lane": "model", "capacity": 1}, error
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_sigint_exits_zero(llmrec_bin: Path, dataset: Path, short_tmp: Path) -> None:
    daemon = SocketDaemon.start(llmrec_bin, dataset, short_tmp / "i.sock")
    assert daemon.stop(signal.SIGINT) == 0, daemon.log()
