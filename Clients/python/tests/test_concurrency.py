"""Concurrency, progress, cancellation and disconnects (spec "Cancellation and progress", "Scheduling")."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import llmrec_client
from llmrec_client import Overloaded, RequestCancelled
from support import RawConnection, SocketDaemon, run_async

CONCURRENT = 200


def mixed_call(client: llmrec_client.Client, session: str, index: int) -> None:
    """One of three request kinds, checked so that a reply paired with the wrong id would fail."""
    item = index % 5 + 1
    match index % 3:
        case 0:
            assert client.catalog_get([item])["items"][0]["itemId"] == item
        case 1:
            assert client.server_status()["uptimeSeconds"] >= 0
        case 2:
            try:
                reply = client.session_recommend(session, k=2, candidates=[item], exclude_seen=False)
            except Overloaded:
                return
            assert [entry["itemId"] for entry in reply["items"]] == [item]


def test_many_threads_share_one_connection(client: llmrec_client.Client) -> None:
    session = client.session_open(history=[1, 2])["sessionId"]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda index: mixed_call(client, session, index), range(CONCURRENT)))
    client.session_close(session)


def test_pipelined_submits_are_all_answered(client: llmrec_client.Client) -> None:
    pending = [client.submit("catalog/get", {"itemIds": [index % 5 + 1]}) for index in range(CONCURRENT)]
    for index, request in enumerate(pending):
        assert request.result(30)["items"][0]["itemId"] == index % 5 + 1


def test_async_gather_on_one_connection(open_async) -> None:
    async def scenario() -> None:
        async with await open_async() as client:
            await client.initialize()
            session = (await client.session_open(history=[1]))["sessionId"]

            async def recommend(item: int) -> int | None:
                try:
                    reply = await client.session_recommend(session, candidates=[item], exclude_seen=False)
                except Overloaded:
                    return None
                return reply["items"][0]["itemId"]

            items = [index % 5 + 1 for index in range(CONCURRENT)]
            answers = await asyncio.gather(*(recommend(item) for item in items), *(client.server_status() for _ in items))
            assert all(answer in (item, None) for answer, item in zip(answers, items))
            assert all(status["uptimeSeconds"] >= 0 for status in answers[CONCURRENT:])
            await client.session_close(session)

    run_async(scenario())


def check_progress(values: list[dict]) -> None:
    kinds = [value["kind"] for value in values]
    assert len(kinds) >= 2 and kinds[0] == "begin" and kinds[-1] == "end", kinds
    assert set(kinds[1:-1]) <= {"report"}, kinds
    for value in values:
        if "percentage" in value:
            assert 0 <= value["percentage"] <= 100


def test_progress_callback_receives_begin_to_end_before_the_reply(client: llmrec_client.Client) -> None:
    session = client.session_open(history=[1])["sessionId"]
    values: list[dict] = []
    reply = client.session_recommend(session, k=3, on_progress=values.append)
    assert reply["sessionId"] == session
    check_progress(values)
    client.session_close(session)


def test_async_progress_callback(open_async) -> None:
    async def scenario() -> None:
        async with await open_async() as client:
            await client.initialize()
            session = (await client.session_open(history=[2]))["sessionId"]
            values: list[dict] = []
            await client.session_recommend(session, on_progress=values.append)
            check_progress(values)

    run_async(scenario())


@pytest.mark.parametrize("token", ["tok-1", 77])
def test_progress_notifications_precede_the_response_on_the_wire(socket_daemon: SocketDaemon, token) -> None:
    with RawConnection(socket_daemon.path) as wire:
        wire.initialize()
        session = wire.request(1, "session/open", {"history": [1]})["result"]["sessionId"]
        wire.send_message(
            {"jsonrpc": "2.0", "id": 2, "method": "session/recommend", "params": {"sessionId": session, "workDoneToken": token}}
        )
        progress = []
        while "id" not in (message := wire.receive()):
            assert message["method"] == "$/progress", message
            assert message["params"]["token"] == token
            progress.append(message["params"]["value"])
        assert message["id"] == 2 and "result" in message, message
        check_progress(progress)


def test_cancelled_requests_are_answered_cancelled_or_completed(client: llmrec_client.Client) -> None:
    session = client.session_open(history=[1, 2])["sessionId"]
    before = client.server_status()["requests"]["cancelled"]
    pending = [client.submit("session/recommend", {"sessionId": session, "k": 3}) for _ in range(50)]
    for request in pending:
        client.cancel(request.id)
    cancelled = 0
    for request in pending:
        try:
            assert request.result(30)["sessionId"] == session
        except RequestCancelled as error:
            assert error.code == -32800
            cancelled += 1
        except Overloaded:
            pass
    client.cancel(10**9)
    assert client.server_status()["requests"]["cancelled"] - before >= cancelled
    client.session_close(session)


def test_async_task_cancellation_leaves_the_connection_usable(open_async) -> None:
    async def scenario() -> None:
        async with await open_async() as client:
            await client.initialize()
            session = (await client.session_open(history=[1]))["sessionId"]
            tasks = [asyncio.create_task(client.session_recommend(session)) for _ in range(20)]
            await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert (await client.session_get(session))["history"] == [1]

    run_async(scenario())


def recommend_when_not_overloaded(client: llmrec_client.Client, session: str, patience: float = 30.0) -> dict:
    """Retries ``session/recommend`` while the daemon answers overloaded (the spec's "retry later")."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return client.session_recommend(session, k=2)
        except Overloaded:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_daemon_survives_a_client_that_disconnects_mid_request(socket_daemon: SocketDaemon) -> None:
    with llmrec_client.connect(socket_daemon.path, timeout=30) as observer:
        observer.initialize()
        session = observer.session_open(history=[1, 2])["sessionId"]
        for _ in range(3):
            wire = RawConnection(socket_daemon.path)
            wire.initialize()
            burst = b"".join(
                llmrec_client.encode_message(
                    {"jsonrpc": "2.0", "id": index, "method": "session/recommend", "params": {"sessionId": session}}
                )
                for index in range(100)
            )
            wire.send(burst + burst[: len(burst) // 3])
            wire.close()
        assert socket_daemon.process.poll() is None, socket_daemon.log()
        assert recommend_when_not_overloaded(observer, session)["sessionId"] == session
        assert observer.server_status()["connections"] >= 1
        observer.session_close(session)


def test_sync_client_disconnecting_with_requests_in_flight(socket_daemon: SocketDaemon) -> None:
    client = llmrec_client.connect(socket_daemon.path, timeout=30)
    client.initialize()
    session = client.session_open()["sessionId"]
    pending = [client.submit("session/recommend", {"sessionId": session}) for _ in range(50)]
    closer = threading.Thread(target=client.close)
    closer.start()
    closer.join(30)
    for request in pending:
        try:
            request.result(30)
        except (llmrec_client.ConnectionClosed, RequestCancelled, Overloaded):
            pass
    with pytest.raises(llmrec_client.ConnectionClosed):
        client.server_status()
    with llmrec_client.connect(socket_daemon.path, timeout=30) as again:
        again.initialize()
        assert again.session_get(session)["sessionId"] == session
        again.session_close(session)
