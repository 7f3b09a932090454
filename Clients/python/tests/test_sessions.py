"""Sessions, catalog and typed errors (spec "Sessions", "Methods", "Errors") over both transports."""

from __future__ import annotations

import time
import uuid

import pytest

import llmrec_client
from llmrec_client import Event, InvalidParams, ItemNotFound, MethodNotFound, SessionNotFound
from support import run_async


def assert_ranked(reply: dict, session_id: str, allowed: set[int], catalog: dict) -> None:
    """A recommend reply ranks exactly ``allowed`` (k covers it), best first, with catalog titles."""
    assert reply["sessionId"] == session_id
    assert isinstance(reply["recommender"], str)
    items = reply["items"]
    assert {item["itemId"] for item in items} == allowed
    assert len(items) == len(allowed)
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    for item in items:
        assert item["title"] == catalog[item["itemId"]]["title"]


def test_session_flow(client: llmrec_client.Client, catalog: dict) -> None:
    started = time.time()
    opened = client.session_open(history=[1, 2])
    session = opened["sessionId"]
    assert opened["historyLength"] == 2

    observed = client.session_observe(session, [Event(3, "rejected"), (4, "viewed"), {"itemId": 1, "kind": "bought"}])
    assert observed.items() >= {"sessionId": session, "historyLength": 4, "rejectedCount": 1}.items()

    everything = set(catalog)
    assert_ranked(client.session_recommend(session, k=10), session, everything - {1, 2, 3, 4}, catalog)
    assert_ranked(client.session_recommend(session, k=10, exclude_seen=False), session, everything - {3}, catalog)
    assert_ranked(client.session_recommend(session, k=10, exclude_seen=False, exclude=[5]), session, everything - {3, 5}, catalog)
    assert_ranked(client.session_recommend(session, k=10, candidates=[3, 4, 5], exclude_seen=False), session, {4, 5}, catalog)
    assert len(client.session_recommend(session, k=1, exclude_seen=False)["items"]) == 1

    state = client.session_get(session)
    assert state["sessionId"] == session
    assert state["history"] == [1, 2, 4, 1]
    assert state["rejected"] == [3]
    assert state["events"][-3:] == [
        {"itemId": 3, "kind": "rejected"},
        {"itemId": 4, "kind": "viewed"},
        {"itemId": 1, "kind": "bought"},
    ]
    assert started - 1 <= state["createdAt"] <= state["updatedAt"] <= time.time() + 1

    assert client.session_close(session).items() >= {"sessionId": session, "closed": True}.items()
    with pytest.raises(SessionNotFound) as gone:
        client.session_get(session)
    assert gone.value.session_id == session


def test_async_session_flow(open_async, catalog: dict) -> None:
    async def scenario() -> None:
        async with await open_async() as client:
            await client.initialize()
            session = (await client.session_open(history=[2]))["sessionId"]
            await client.session_observe(session, [Event(1, "rejected"), Event(5, "bought")])
            reply = await client.session_recommend(session, k=10)
            assert_ranked(reply, session, set(catalog) - {1, 2, 5}, catalog)
            assert (await client.session_get(session))["rejected"] == [1]
            await client.session_close(session)
            with pytest.raises(SessionNotFound):
                await client.session_recommend(session)

    run_async(scenario())


def test_client_chosen_session_ids(client: llmrec_client.Client) -> None:
    chosen = f"pytest:{uuid.uuid4().hex}.a-b_c"
    assert client.session_open(session_id=chosen).items() >= {"sessionId": chosen, "historyLength": 0}.items()
    with pytest.raises(InvalidParams):
        client.session_open(session_id=chosen)
    for bad in ("", "has space", "x" * 129, "slash/no"):
        with pytest.raises(InvalidParams) as refused:
            client.session_open(session_id=bad)
        assert refused.value.field == "sessionId"
        if bad:
            assert bad[:40] in refused.value.message, "spec: error messages name the offending value (long ones cut)"
    client.session_close(chosen)


def test_sessions_are_shared_by_socket_connections(socket_daemon) -> None:
    with llmrec_client.connect(socket_daemon.path, timeout=30) as first, llmrec_client.connect(socket_daemon.path, timeout=30) as second:
        first.initialize()
        second.initialize()
        session = first.session_open(history=[1])["sessionId"]
        assert second.session_get(session)["history"] == [1]
        second.session_close(session)
        with pytest.raises(SessionNotFound):
            first.session_get(session)


def test_catalog_get_keeps_order_and_original_ids(client: llmrec_client.Client, catalog: dict) -> None:
    items = client.catalog_get([3, 1, 3])["items"]
    assert [item["itemId"] for item in items] == [3, 1, 3]
    for item in items:
        entry = catalog[item["itemId"]]
        assert item["originalId"] == entry["originalId"]
        assert item["title"] == entry["title"]
        assert item["description"] == entry["description"]
        assert item["metadata"] == entry["metadata"]


def test_catalog_search_scores_per_spec(client: llmrec_client.Client, catalog: dict) -> None:
    exact = catalog[2]["title"]
    found = client.catalog_search(exact.upper())["items"]
    assert found[0]["item"]["itemId"] == 2 and found[0]["score"] == 3
    prefix = client.catalog_search(exact.split()[0])["items"]
    assert prefix[0]["item"]["itemId"] == 2 and prefix[0]["score"] == 2
    assert client.catalog_search("zzzz-nothing-matches")["items"] == []
    all_titled = client.catalog_search("No Title", limit=1)["items"]
    assert len(all_titled) == 1 and all_titled[0]["score"] == 3 and all_titled[0]["item"]["itemId"] == 3


def test_unknown_session_is_session_not_found(client: llmrec_client.Client) -> None:
    for call in (
        lambda: client.session_get("no-such-session"),
        lambda: client.session_observe("no-such-session", [(1, "viewed")]),
        lambda: client.session_recommend("no-such-session"),
        lambda: client.session_close("no-such-session"),
    ):
        with pytest.raises(SessionNotFound) as missing:
            call()
        assert missing.value.code == -32010
        assert missing.value.session_id == "no-such-session"
        assert "no-such-session" in missing.value.message


def test_bad_params_name_the_field(client: llmrec_client.Client) -> None:
    session = client.session_open()["sessionId"]
    cases = [
        ("k", lambda: client.session_recommend(session, k=0)),
        ("k", lambda: client.request("session/recommend", {"sessionId": session, "k": "ten"})),
        ("sessionId", lambda: client.request("session/recommend", {})),
        ("events", lambda: client.request("session/observe", {"sessionId": session})),
        ("limit", lambda: client.catalog_search("cleanser", limit=101)),
        ("itemIds", lambda: client.catalog_get([])),
    ]
    for field, call in cases:
        with pytest.raises(InvalidParams) as bad:
            call()
        assert bad.value.code == -32602
        assert bad.value.field == field, bad.value
    with pytest.raises(InvalidParams):
        client.session_observe(session, [(1, "liked")])
    client.session_close(session)


def test_k_above_max_k_is_invalid(raw_client: llmrec_client.Client) -> None:
    max_k = raw_client.initialize()["limits"]["maxK"]
    session = raw_client.session_open()["sessionId"]
    with pytest.raises(InvalidParams) as bad:
        raw_client.session_recommend(session, k=max_k + 1)
    assert bad.value.field == "k"
    raw_client.session_close(session)


def test_unknown_items_are_item_not_found(client: llmrec_client.Client, catalog: dict) -> None:
    outside = len(catalog) + 1
    with pytest.raises(ItemNotFound) as missing:
        client.catalog_get([1, outside])
    assert missing.value.item_ids == [outside]
    with pytest.raises(ItemNotFound):
        client.session_open(history=[outside])
    session = client.session_open()["sessionId"]
    with pytest.raises(ItemNotFound):
        client.session_observe(session, [(outside, "viewed")])
    with pytest.raises(ItemNotFound) as bad_candidate:
        client.session_recommend(session, candidates=[1, outside])
    assert bad_candidate.value.item_ids == [outside]
    client.session_close(session)


def test_unknown_method_is_method_not_found(client: llmrec_client.Client) -> None:
    with pytest.raises(MethodNotFound) as missing:
        client.request("session/teleport", {})
    assert "session/teleport" in missing.value.message
    client.notify("session/teleport", {})
    assert client.server_status()["sessions"] >= 0
