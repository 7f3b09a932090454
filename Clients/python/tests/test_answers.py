"""Streamed answers and model swaps with the real SmolLM2 and MiniLM (spec "Cancellation and
progress", "Conversation", "Model status and swaps"), and the routing of answer deltas."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

import llmrec_client
from llmrec_client import Overloaded, RequestCancelled
from llmrec_client.dispatch import Dispatcher
from support import REQUEST_TIMEOUT, run_async, spawn_stdio

# Two shoppers whose answers differ (each opens with its own top pick), so a piece given to the
# wrong request shows.
CLEANSER = "a gentle cleanser for dry skin"
PERFUME = "a warm woody eau de parfum"


@pytest.fixture
def lm_args(encoder_dir: Path, lm_gguf: Path) -> list[str]:
    return ["--encoder", str(encoder_dir), "--encoder-precision", "f32", "--lm", str(lm_gguf)]


@pytest.fixture
def lm_client(llmrec_bin: Path, dataset: Path, tmp_path: Path, lm_args: list[str]):
    """An initialized sync client on a fresh stdio daemon with the encoder and the LM; the
    ``session/answerDelta`` notifications that no request took are in ``client.stray``."""
    stray: list[tuple[str, dict]] = []
    client = spawn_stdio(llmrec_bin, dataset, tmp_path, lm_args, on_notification=lambda method, params: stray.append((method, params)))
    with client:
        client.initialize()
        client.stray = stray
        yield client


def assert_answer_streamed(reply: dict, pieces: list[str]) -> None:
    answer = reply["answer"]
    assert answer is not None and answer["finished"] is True
    assert answer["generatedTokens"] >= 1 and answer["promptTokens"] >= 1 and answer["reusedTokens"] >= 0
    assert 0 <= answer["firstTokenMs"] <= answer["totalMs"]
    assert pieces, "a streamed answer arrives in pieces"
    assert "".join(pieces).strip() == answer["text"].strip()


def test_dispatcher_routes_deltas_by_request_id() -> None:
    seen: list[tuple[str, object]] = []
    dispatcher = Dispatcher(on_notification=lambda method, params: seen.append((method, params)))
    first, second, plain = Future(), Future(), Future()
    first_pieces: list[str] = []
    second_pieces: list[str] = []
    first_id, _ = dispatcher.register("session/message", {}, first, None, first_pieces.append)
    second_id, _ = dispatcher.register("session/message", {}, second, None, second_pieces.append)
    plain_id, _ = dispatcher.register("session/message", {}, plain, None)

    def delta(request_id: object, index: int, text: str) -> bytes:
        params = {"requestId": request_id, "sessionId": "s", "index": index, "text": text}
        return json.dumps({"jsonrpc": "2.0", "method": "session/answerDelta", "params": params}).encode()

    for body in (delta(first_id, 0, "How"), delta(second_id, 0, "Try"), delta(first_id, 1, " about"),
                 delta(plain_id, 0, "x"), delta(999, 0, "late"), delta(str(first_id), 2, "?")):
        dispatcher.dispatch(body)
    dispatcher.dispatch(json.dumps({"jsonrpc": "2.0", "id": first_id, "result": {"answer": None}}).encode())
    dispatcher.dispatch(delta(first_id, 3, " after the reply"))
    assert first_pieces == ["How", " about"] and second_pieces == ["Try"]
    assert first.result(0) == {"answer": None} and not second.done()
    assert [params["text"] for _, params in seen] == ["x", "late", "?", " after the reply"]


def test_concurrent_messages_get_their_own_deltas(lm_client: llmrec_client.Client) -> None:
    shoppers = [(lm_client.session_open()["sessionId"], text) for text in (CLEANSER, PERFUME)]
    pieces: dict[str, list[str]] = {session: [] for session, _ in shoppers}
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(
            lambda shopper: lm_client.session_message(shopper[0], shopper[1], k=2, on_delta=pieces[shopper[0]].append),
            shoppers,
        ))
    for (session, _), reply in zip(shoppers, replies):
        assert reply["sessionId"] == session
        assert_answer_streamed(reply, pieces[session])
    assert replies[0]["answer"]["text"] != replies[1]["answer"]["text"]
    assert lm_client.stray == [], "every piece went to the request it names"

    # Without stream no piece is sent; without answer there is none.
    session = shoppers[0][0]
    quiet: list[str] = []
    unstreamed = lm_client.session_message(session, "something else", stream=False, on_delta=quiet.append)
    assert unstreamed["answer"]["text"] and quiet == []
    assert lm_client.session_message(session, "thanks", answer=False, on_delta=quiet.append)["answer"] is None and quiet == []
    status = lm_client.model_status()
    assert status["chatCaches"]["sessions"] >= 1 and status["chatCaches"]["bytes"] > 0


def test_async_concurrent_messages_get_their_own_deltas(llmrec_bin: Path, dataset: Path, lm_args: list[str], tmp_path: Path) -> None:
    async def scenario() -> None:
        stray: list[tuple[str, dict]] = []
        with open(tmp_path / "async-daemon.log", "wb") as log:
            client = await llmrec_client.spawn_async(
                llmrec_bin, ["serve", "--stdio", "--data", str(dataset), *lm_args], stderr=log,
                on_notification=lambda method, params: stray.append((method, params)),
            )
        async with client:
            await client.initialize()
            sessions = [(await client.session_open())["sessionId"] for _ in range(2)]
            pieces: list[list[str]] = [[], []]
            replies = await asyncio.gather(*(
                client.session_message(session, text, k=2, on_delta=collected.append)
                for session, text, collected in zip(sessions, (CLEANSER, PERFUME), pieces)
            ))
            for reply, collected in zip(replies, pieces):
                assert_answer_streamed(reply, collected)
            assert replies[0]["answer"]["text"] != replies[1]["answer"]["text"]
            assert stray == []

    run_async(scenario(), timeout=120)


def test_model_status_with_encoder_and_lm(lm_client: llmrec_client.Client, lm_gguf: Path, encoder_dir: Path, catalog: dict) -> None:
    status = lm_client.model_status()
    assert status["recommender"]["name"] == "cooccurrence" and status["bundle"] is None
    encoder = status["encoder"]
    assert encoder["path"] == str(encoder_dir) and encoder["dimension"] == 384 and encoder["precision"] == "f32"
    lm = status["languageModel"]
    assert lm["path"] == str(lm_gguf) and lm["name"] == "llama" and lm["chat"] is True
    assert lm["layers"] == 30 and lm["hiddenSize"] == 576 and lm["vocabularySize"] == 49152 and lm["threads"] >= 1
    assert 0 < lm["weightBytes"] <= status["modelBytes"]
    assert status["capabilities"] == ["collaborative", "text", "answers"]
    assert status["catalogSize"] == len(catalog) and status["addedItems"] == 0
    assert status["loading"] is None and status["loadSeconds"] > 0 and status["generation"] == 0
    assert status["residentMemoryBytes"] is None or status["residentMemoryBytes"] > 0


def test_cancelling_a_streamed_message(lm_client: llmrec_client.Client) -> None:
    session = lm_client.session_open()["sessionId"]
    first_piece = threading.Event()
    pieces: list[str] = []

    def on_delta(text: str) -> None:
        pieces.append(text)
        first_piece.set()

    pending = lm_client.submit(
        "session/message", {"sessionId": session, "text": CLEANSER, "maxAnswerTokens": 512}, on_delta=on_delta
    )
    assert first_piece.wait(REQUEST_TIMEOUT), "no piece of the answer arrived"
    lm_client.cancel(pending.id)
    with pytest.raises(RequestCancelled):
        pending.result(REQUEST_TIMEOUT)
    assert pieces
    assert lm_client.server_status()["requests"]["cancelled"] >= 1

    after: list[str] = []
    reply = lm_client.session_message(session, PERFUME, on_delta=after.append)
    assert_answer_streamed(reply, after)
    assert lm_client.stray == [], "no piece arrives after the cancelled reply"


def test_model_load_swaps_the_lm_while_a_message_is_answered(lm_client: llmrec_client.Client, lm_gguf: Path) -> None:
    session = lm_client.session_open()["sessionId"]
    answering = threading.Event()
    pieces: list[str] = []

    def on_delta(text: str) -> None:
        pieces.append(text)
        answering.set()

    message = lm_client.submit("session/message", {"sessionId": session, "text": CLEANSER}, on_delta=on_delta)
    assert answering.wait(REQUEST_TIMEOUT), "no piece of the answer arrived"
    load = lm_client.submit("model/load", {"languageModel": str(lm_gguf)})
    assert_answer_streamed(message.result(REQUEST_TIMEOUT), pieces)
    swapped = load.result(REQUEST_TIMEOUT)
    assert swapped["generation"] == 1
    assert swapped["languageModel"]["path"] == str(lm_gguf) and swapped["encoder"] is not None
    assert swapped["loading"] is None and swapped["loadSeconds"] > 0
    assert lm_client.model_status()["generation"] == 1

    after: list[str] = []
    assert_answer_streamed(lm_client.session_message(session, PERFUME, on_delta=after.append), after)

    # One load at a time: a second one while the first runs is refused on the loading lane.
    running = lm_client.submit("model/load", {"languageModel": str(lm_gguf)})
    refused = lm_client.submit("model/load", {"languageModel": str(lm_gguf)})
    with pytest.raises(Overloaded) as busy:
        refused.result(REQUEST_TIMEOUT)
    assert busy.value.lane == "loading" and busy.value.capacity == 1
    assert running.result(REQUEST_TIMEOUT)["generation"] == 2
