"""Conversation without an LM (spec "Conversation", "Catalog additions", "Model status and swaps"):
session/message, the blended session/recommend, catalog/add and model/status, model/load's errors."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import llmrec_client
from llmrec_client import InvalidParams, ItemNotFound, LoadFailed, ModelNotLoaded, NewItem, SessionNotFound
from support import SocketDaemon, run_async, spawn_stdio

RANKED_ITEM_KEYS = {"itemId", "title", "score", "scores", "matchedFacets", "added"}


def assert_ranked_items(items: list[dict], catalog: dict, *, text_scored: bool) -> None:
    """Items in the RankedItem shape, best first; ``scores.text`` is there exactly when an encoder is."""
    assert [item["score"] for item in items] == sorted((item["score"] for item in items), reverse=True)
    for item in items:
        assert item.keys() == RANKED_ITEM_KEYS, item
        assert item["scores"].keys() == {"collaborative", "text", "languageModel"}
        assert item["scores"]["languageModel"] is None
        assert (item["scores"]["text"] is not None) == text_scored, item
        if item["itemId"] in catalog:
            assert item["title"] == catalog[item["itemId"]]["title"] and item["added"] is False


def test_session_message_understands_and_excludes_what_was_said(client: llmrec_client.Client, catalog: dict) -> None:
    session = client.session_open(history=[1])["sessionId"]

    first = client.session_message(session, "Something for dry skin from Skin Care")
    assert first["sessionId"] == session
    assert first["answer"] is None, "no LM is loaded"
    understood = first["understood"]
    assert understood["wantedFacets"] == ["Skin Care"] and understood["preferences"]
    assert understood["exclusions"] == [] and understood["excludedFacets"] == [] and understood["reference"] is None
    assert first["excludedByStatement"] == 0 and first["languageModelRanked"] == 0
    assert first["timing"]["retrievalMs"] >= 0 and first["timing"]["languageModelRankingMs"] >= 0
    items = first["items"]
    assert {item["itemId"] for item in items} == set(catalog) - {1}, "every unseen item, k=5 covers them"
    assert_ranked_items(items, catalog, text_scored=False)
    by_id = {item["itemId"]: item for item in items}
    assert by_id[2]["matchedFacets"] == ["Skin Care"] and by_id[3]["matchedFacets"] == []

    # Item 2 has the category "Beauty": an excluded facet leaves it out for the rest of the session.
    second = client.session_message(session, "not Beauty", k=10)
    assert second["understood"]["excludedFacets"] == ["Beauty"]
    assert second["excludedByStatement"] == 1
    assert {item["itemId"] for item in second["items"]} == set(catalog) - {1, 2}

    # "Lotion" is in item 4's title; the earlier exclusion still holds.
    third = client.session_message(session, "no lotion", k=10)
    assert third["understood"]["exclusions"] == ["lotion"]
    assert third["excludedByStatement"] == 2
    assert {item["itemId"] for item in third["items"]} == set(catalog) - {1, 2, 4}

    # A session with turns is ranked by the blended engine, which keeps the stated exclusions.
    blended = client.session_recommend(session, k=10)
    assert blended["languageModelRanked"] == 0 and "explanation" not in blended
    assert {item["itemId"] for item in blended["items"]} == set(catalog) - {1, 2, 4}
    assert_ranked_items(blended["items"], catalog, text_scored=False)
    assert len(client.session_message(session, "anything", k=1)["items"]) == 1
    client.session_close(session)


def test_session_recommend_uses_the_blended_engine_only_when_asked(client: llmrec_client.Client, catalog: dict) -> None:
    session = client.session_open(history=[2])["sessionId"]
    plain = client.session_recommend(session, k=3)
    assert plain.keys() == {"sessionId", "recommender", "items"}
    assert all(item.keys() == {"itemId", "score", "title"} for item in plain["items"])
    for blended in (
        client.session_recommend(session, k=3, weights={"collaborative": 2, "facet": 0}),
        client.session_recommend(session, k=3, query="skin care"),
        client.session_recommend(session, k=3, explain=True),
    ):
        assert blended.keys() == {"sessionId", "recommender", "items", "languageModelRanked"}, "no explanation without an LM"
        assert [item["itemId"] for item in blended["items"]] == [item["itemId"] for item in plain["items"]]
        assert_ranked_items(blended["items"], catalog, text_scored=False)
    assert client.session_get(session)["history"] == [2], "a query is not remembered"
    assert client.session_recommend(session, k=3).keys() == plain.keys()
    client.session_close(session)


def test_session_message_bad_params_name_the_field(client: llmrec_client.Client) -> None:
    session = client.session_open()["sessionId"]
    cases = [
        ("text", lambda: client.session_message(session, " \t\n ")),
        ("text", lambda: client.session_message(session, "")),
        ("text", lambda: client.session_message(session, "x" * 4001)),
        ("text", lambda: client.request("session/message", {"sessionId": session})),
        ("k", lambda: client.session_message(session, "hello", k=0)),
        ("maxAnswerTokens", lambda: client.session_message(session, "hello", max_answer_tokens=513)),
        ("weights.price", lambda: client.session_message(session, "cheaper", weights={"price": 1})),
        ("weights.text", lambda: client.session_message(session, "hello", weights={"text": 10.5})),
        ("weights.facet", lambda: client.session_recommend(session, weights={"facet": -1})),
        ("query", lambda: client.session_recommend(session, query="")),
    ]
    for field, call in cases:
        with pytest.raises(InvalidParams) as bad:
            call()
        assert bad.value.field == field, bad.value
    with pytest.raises(SessionNotFound) as missing:
        client.session_message("no-such-session", "hello")
    assert missing.value.session_id == "no-such-session"
    client.session_close(session)


def test_async_session_message(open_async, catalog: dict) -> None:
    async def scenario() -> None:
        async with await open_async() as client:
            await client.initialize()
            session = (await client.session_open(history=[1]))["sessionId"]
            reply = await client.session_message(session, "not Beauty", k=10, stream=False, answer=False)
            assert reply["answer"] is None and reply["excludedByStatement"] == 1
            assert {item["itemId"] for item in reply["items"]} == set(catalog) - {1, 2}
            await client.session_close(session)

    run_async(scenario())


def test_model_status_without_models(client: llmrec_client.Client, catalog: dict) -> None:
    status = client.model_status()
    assert status["recommender"] == {"name": "cooccurrence", "path": None}
    assert status["encoder"] is None and status["languageModel"] is None and status["bundle"] is None
    assert status["capabilities"] == ["collaborative"]
    assert status["catalogSize"] == len(catalog) and status["addedItems"] == 0
    assert status["modelBytes"] == 0
    assert status["chatCaches"] == {"sessions": 0, "bytes": 0}
    assert status["residentMemoryBytes"] is None or status["residentMemoryBytes"] > 0
    assert status["loading"] is None and status["loadSeconds"] >= 0 and status["generation"] == 0


def test_catalog_add_needs_an_encoder_and_checks_its_items(client: llmrec_client.Client, catalog: dict) -> None:
    with pytest.raises(ModelNotLoaded) as refused:
        client.catalog_add([NewItem("Lavender Soap Bar", "Handmade, with lavender oil")])
    assert refused.value.code == -32012 and "encoder" in refused.value.message
    cases = [
        ("items", lambda: client.catalog_add([])),
        ("items", lambda: client.catalog_add([{"title": "x"}] * 101)),
        ("items[0].color", lambda: client.catalog_add([{"title": "Lavender Soap Bar", "color": "purple"}])),
        ("items[1].title", lambda: client.catalog_add([NewItem("ok"), {"description": "no title"}])),
        ("items[0].title", lambda: client.catalog_add([NewItem("   ")])),
        ("items[0].title", lambda: client.catalog_add([NewItem("x" * 501)])),
        ("items[0].originalId", lambda: client.catalog_add([NewItem("ok", original_id="")])),
        ("items[0].metadata", lambda: client.catalog_add([{"title": "ok", "metadata": 3}])),
    ]
    for field, call in cases:
        with pytest.raises(InvalidParams) as bad:
            call()
        assert bad.value.field == field, bad.value
    assert client.model_status()["catalogSize"] == len(catalog)


def test_model_load_refuses_missing_paths_and_reports_failures(client: llmrec_client.Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidParams) as bad:
        client.request("model/load", {"color": "red"})
    assert bad.value.field == "color", bad.value
    with pytest.raises(InvalidParams):
        client.model_load()

    # A path that does not exist and a file that is no model get one answer, which names the part
    # but neither the path nor what the file holds.
    missing = tmp_path / "nowhere" / "model.gguf"
    not_a_model = tmp_path / "not-a-model.gguf"
    not_a_model.write_bytes(b"not a GGUF file")
    messages = set()
    for path in (missing, not_a_model):
        with pytest.raises(LoadFailed) as failed:
            client.model_load(language_model=path)
        assert failed.value.code == -32013 and "languageModel" in failed.value.message
        assert str(tmp_path) not in failed.value.message
        messages.add(failed.value.message)
    assert len(messages) == 1
    for call in (lambda: client.model_load(bundle=tmp_path / "no-bundle"), lambda: client.model_load(encoder=missing)):
        with pytest.raises(LoadFailed):
            call()
    status = client.model_status()
    assert status["generation"] == 0 and status["languageModel"] is None and status["loading"] is None
    session = client.session_open()["sessionId"]
    assert client.session_message(session, "hello")["answer"] is None, "the old models still serve"
    client.session_close(session)


def test_added_items_are_recommended_by_their_text(llmrec_bin: Path, dataset: Path, catalog: dict, encoder_dir: Path, tmp_path: Path) -> None:
    with spawn_stdio(llmrec_bin, dataset, tmp_path, ["--encoder", str(encoder_dir)]) as client:
        client.initialize()
        size = len(catalog)
        added = client.catalog_add([
            NewItem("Lavender Goat Milk Soap Bar", "Handmade soap with lavender oil", {"categories": ["Bath"]}),
            {"title": "Cedarwood Beard Oil", "originalId": "beard-oil-1"},
        ])
        assert added["catalogSize"] == size + 2
        soap, oil = added["items"]
        assert soap == {
            "itemId": size + 1, "originalId": f"added-{size + 1}", "title": "Lavender Goat Milk Soap Bar",
            "description": "Handmade soap with lavender oil", "metadata": {"categories": ["Bath"]},
        }
        assert oil == {"itemId": size + 2, "originalId": "beard-oil-1", "title": "Cedarwood Beard Oil", "description": "", "metadata": {}}
        assert client.catalog_get([oil["itemId"], soap["itemId"]])["items"] == [oil, soap]

        for duplicate in ("beard-oil-1", catalog[1]["originalId"]):
            with pytest.raises(InvalidParams) as bad:
                client.catalog_add([NewItem("Another", original_id=duplicate)])
            assert bad.value.field == "items" and duplicate in bad.value.message
        with pytest.raises(ItemNotFound):
            client.catalog_get([size + 3])

        status = client.model_status()
        assert status["catalogSize"] == size + 2 and status["addedItems"] == 2
        assert {"collaborative", "text"} <= set(status["capabilities"])

        session = client.session_open()["sessionId"]
        reply = client.session_message(session, "a bar of lavender soap for the bath", k=2)
        assert reply["answer"] is None
        assert_ranked_items(reply["items"], catalog, text_scored=True)
        found = [item for item in reply["items"] if item["itemId"] == soap["itemId"]]
        assert found, reply["items"]
        assert found[0]["added"] is True and found[0]["title"] == soap["title"]
        assert isinstance(found[0]["scores"]["collaborative"], float), "imputed from the nearest prepared items"
        by_text = client.session_message(session, "lavender soap", k=1, weights={"collaborative": 0})["items"]
        assert [item["itemId"] for item in by_text] == [soap["itemId"]]

        # Added items are items like the others: in histories, events and candidates.
        shopper = client.session_open(history=[soap["itemId"]])["sessionId"]
        client.session_observe(shopper, [(oil["itemId"], "rejected")])
        ranked = client.session_recommend(shopper, k=10, candidates=[soap["itemId"], oil["itemId"], 2], exclude_seen=False)
        assert {item["itemId"] for item in ranked["items"]} == {soap["itemId"], 2}
        assert_ranked_items(ranked["items"], catalog, text_scored=False)  # no words yet in this session


def test_added_items_survive_a_restart_with_state(llmrec_bin: Path, dataset: Path, catalog: dict, encoder_dir: Path, short_tmp: Path) -> None:
    state = short_tmp / "state"
    state.mkdir()
    arguments = ["--encoder", str(encoder_dir), "--state", str(state)]
    daemon = SocketDaemon.start(llmrec_bin, dataset, short_tmp / "a.sock", arguments)
    with llmrec_client.connect(daemon.path, timeout=30) as client:
        client.initialize()
        added = client.catalog_add([NewItem("Lavender Goat Milk Soap Bar", original_id="soap-1")])["items"]
    daemon.stop(signal.SIGKILL)
    assert (state / "catalog.journal").is_file()

    restarted = SocketDaemon.start(llmrec_bin, dataset, short_tmp / "a.sock", arguments)
    try:
        with llmrec_client.connect(restarted.path, timeout=30) as client:
            assert client.initialize()["loaded"]["catalogSize"] == len(catalog) + 1
            assert client.catalog_get([len(catalog) + 1])["items"] == added
            assert client.model_status()["addedItems"] == 1
            session = client.session_open()["sessionId"]
            reply = client.session_message(session, "lavender soap", k=1, weights={"collaborative": 0})
            assert [item["itemId"] for item in reply["items"]] == [len(catalog) + 1]
    finally:
        assert restarted.stop() == 0, restarted.log()
