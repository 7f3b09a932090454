"""Ten scripted conversations on MovieLens-100K, checked as a user would check them.

The scripts are in ``conversations.json``. Each runs against the real daemon with the real assets:
MovieLens-100K prepared by ``llmrec prepare``, SASRec and A-LLMRec stage 1 trained briefly here
(60 and 30 epochs: enough for the collaborative and text signals, a few seconds each), all-MiniLM-L6-v2
for the text path and SmolLM2-135M-Instruct for the grounded answers. Checks:

- a rejected item never comes back, in any later reply of the session (messages and recommend);
- an item of the history is never recommended;
- ``moreOf F``: after the user asks for F, the reply's top five hold more items of genre F than the
  session's recommendations just before (or all five are F);
- ``none [F...]`` / ``noTitleContaining``: excluded genres and titles are gone;
- ``atLeast {F: n}``: at least n of the top five are F;
- ``containsAdded T``: an item added with ``catalog/add`` (text only) is in the top five when the
  user asks for what it is;
- the streamed answer pieces make up the answer, which names the top item.

Each conversation's transcript is written to the pytest temporary directory, and to
``Tests/Conversations/transcripts/`` when ``LLMREC_RECORD_CONVERSATIONS=1`` (how the committed ones
were made).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "Clients" / "python"))
import llmrec_client  # noqa: E402


def readable(title: str) -> str:
    """A catalog title as answers write it: "Sword in the Stone, The" reads "The Sword in the Stone"."""
    for article in ("The", "A", "An"):
        if title.endswith(", " + article):
            return article + " " + title[: -len(article) - 2]
    return title


# The words that join facts in an answer (Sources/Recommender/Conversation/Grounding.swift).
CONNECTIVES = {"a", "an", "the", "and", "or", "how", "about", "it", "it's", "is", "has", "you", "asked", "for", "with", "close", "to",
               "from", "your", "history", "if", "liked", "this", "one", "came", "out", "in"}


def words(text: str) -> list[str]:
    """Lowercased words: letters, digits, and apostrophes or hyphens inside a word."""
    return [word.strip("'-") for word in re.findall(r"[\w'-]+", text.lower()) if word.strip("'-")]


BIN = Path(os.environ.get("LLMREC_BIN", REPO / ".build" / "debug" / "llmrec"))
HOME = Path(os.environ.get("LLMREC_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmrec")
ASSETS = HOME / "assets"
SCRIPTS = json.loads((HERE / "conversations.json").read_text())["conversations"]
TOP = 5


def run(*args: Any) -> None:
    subprocess.run([str(BIN), *map(str, args)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    for needed in ["ml-100k/ml-100k.inter", "minilm-l6-v2/model.safetensors", "smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"]:
        if not (ASSETS / needed).exists():
            pytest.fail(f"{ASSETS / needed} is missing: run scripts/fetch-assets.sh", pytrace=False)
    root = tmp_path_factory.mktemp("conversations")
    data, sasrec, bundle = root / "ml-100k", root / "sasrec.safetensors", root / "bundle"
    run("prepare", "--format", "recbole", "--reviews", ASSETS / "ml-100k/ml-100k.inter", "--meta", ASSETS / "ml-100k/ml-100k.item",
        "--out", data, "--quiet")
    run("train", "sasrec", "--data", data, "--out", sasrec, "--epochs", "60", "--batch-threads", "2", "--quiet")
    run("train", "align", "--data", data, "--sasrec", sasrec, "--encoder", ASSETS / "minilm-l6-v2", "--bundle", bundle,
        "--epochs", "30", "--lr", "1e-3", "--embedding-threads", "2", "--quiet")
    catalog = {}
    for line in (data / "catalog.jsonl").read_text().splitlines():
        item = json.loads(line)
        catalog[item["id"]] = item
    return {"data": data, "bundle": bundle, "catalog": catalog, "by_title": {item["title"]: item["id"] for item in catalog.values()},
            "transcripts": root / "transcripts"}


class Conversation:
    """One scripted conversation with the daemon, its transcript and the checks that failed."""

    def __init__(self, environment: dict[str, Any], script: dict[str, Any]) -> None:
        self.environment = environment
        self.script = script
        self.catalog: dict[int, dict[str, Any]] = dict(environment["catalog"])
        self.deltas: list[str] = []
        self.client = llmrec_client.spawn(
            BIN,
            ["serve", "--stdio", "--data", str(environment["data"]), "--bundle", str(environment["bundle"]),
             "--lm", str(ASSETS / "smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"), "--item-noun", "movie"],
            stderr=subprocess.DEVNULL, timeout=300, on_notification=self._notification)
        self.client.initialize()
        self.lines: list[str] = []
        self.failures: list[str] = []
        self.rejected: set[int] = set()
        self.seen: set[int] = set()
        self.last: list[dict[str, Any]] = []
        self.said: list[str] = []

    def _notification(self, method: str, params: Any) -> None:
        if method == "session/answerDelta":
            self.deltas.append(params["text"])

    def describe(self, item_id: int) -> str:
        item = self.catalog[item_id]
        return " ".join([item["title"], item.get("description", ""), *self.genres(item_id), *item["metadata"].get("facets", [])])

    def genres(self, item_id: int) -> list[str]:
        return self.catalog[item_id]["metadata"].get("class", [])

    def check(self, condition: bool, what: str) -> None:
        self.lines.append(f"- check: {what}: {'ok' if condition else 'FAILED'}")
        if not condition:
            self.failures.append(what)

    def count(self, items: list[dict[str, Any]], genre: str) -> int:
        return sum(genre in self.genres(item["itemId"]) for item in items[:TOP])

    def show(self, items: list[dict[str, Any]]) -> None:
        for rank, item in enumerate(items, 1):
            scores = item.get("scores") or {}
            parts = [f"{name} {scores[key]:+.2f}" for key, name in [("collaborative", "cf"), ("text", "text"), ("languageModel", "lm")]
                     if scores.get(key) is not None]
            added = " (added)" if item.get("added") else ""
            self.lines.append(f"  {rank}. {item['title']}{added} [{', '.join(self.genres(item['itemId']))}] {', '.join(parts)}")

    def check_reply(self, items: list[dict[str, Any]], expect: dict[str, Any], baseline: list[dict[str, Any]] | None) -> None:
        ids = [item["itemId"] for item in items]
        self.check(not (set(ids) & self.rejected), "no rejected item comes back")
        self.check(not (set(ids) & self.seen), "no item of the history is recommended")
        if "moreOf" in expect:
            genre = expect["moreOf"]
            before, after = self.count(baseline or [], genre), self.count(items, genre)
            self.check(after > before or after == TOP, f"more {genre} in the top {TOP} than before ({before} -> {after})")
        for genre in expect.get("none", []):
            self.check(all(genre not in self.genres(i) for i in ids), f"no {genre}")
        for genre, least in expect.get("atLeast", {}).items():
            self.check(self.count(items, genre) >= least, f"at least {least} {genre} in the top {TOP} ({self.count(items, genre)})")
        if "noTitleContaining" in expect:
            word = expect["noTitleContaining"]
            self.check(all(word not in re.findall(r"[a-z0-9]+", item["title"].lower()) for item in items),
                       f"no title with '{word}'")
        if "containsAdded" in expect:
            title = expect["containsAdded"]
            self.check(any(item["title"] == title and item.get("added") for item in items[:TOP]), f"the added '{title}' is in the top {TOP}")
        if "reference" in expect:
            pass  # checked by the caller on `understood`

    def run(self) -> None:
        script = self.script
        history = [self.environment["by_title"][title] for title in script["history"]]
        self.seen.update(history)
        session = self.client.request("session/open", {"history": history})["sessionId"]
        self.lines += [f"# {script['name']}", "", f"History: {', '.join(script['history'])}", ""]
        for step in script["steps"]:
            expect = step.get("expect", {})
            if "say" in step:
                baseline = None
                if "moreOf" in expect:
                    baseline = self.client.request("session/recommend", {"sessionId": session, "k": TOP})["items"]
                self.deltas = []
                reply = self.client.request("session/message", {"sessionId": session, "text": step["say"], "k": TOP})
                understood = reply["understood"]
                self.lines += [f"**user:** {step['say']}", "",
                               f"understood: preferences {understood['preferences']}, exclusions {understood['exclusions']}, "
                               f"wanted {understood['wantedFacets']}, excluded {understood['excludedFacets']}"
                               + (f", reference {understood['reference']}" if understood["reference"] else ""), ""]
                answer = reply["answer"]
                if answer is not None:
                    self.lines += [f"**llmrec:** {answer['text']}", ""]
                    self.check("".join(self.deltas).strip() == answer["text"], "the streamed pieces make up the answer")
                    if reply["items"]:
                        self.check(readable(reply["items"][0]["title"]) in answer["text"], "the answer names the top item")
                    self.said.append(step["say"])
                    self.said += understood["wantedFacets"]
                    facts = [self.describe(item["itemId"]) for item in reply["items"]] + [self.describe(i) for i in self.seen] + self.said
                    known = {word for fact in facts for word in words(fact)} | CONNECTIVES | {"movie"}
                    unsupported = [word for word in words(answer["text"]) if word not in known]
                    self.check(not unsupported, f"the answer says nothing beyond the catalog and the session {unsupported or ''}")
                self.show(reply["items"])
                self.check_reply(reply["items"], expect, baseline)
                if "reference" in expect:
                    self.check(understood["reference"] == expect["reference"], f"understood a reference: {expect['reference']}")
                self.last = reply["items"]
            elif "recommend" in step:
                params = {"sessionId": session, "k": TOP, **step["recommend"]}
                reply = self.client.request("session/recommend", params)
                self.lines += [f"**recommend** {json.dumps(step['recommend'])}", ""]
                self.show(reply["items"])
                self.check_reply(reply["items"], expect, None)
                self.last = reply["items"]
            elif "reject" in step or "bought" in step:
                kind = "rejected" if "reject" in step else "bought"
                item = self.last[(step.get("reject") or step.get("bought")) - 1]
                self.client.request("session/observe", {"sessionId": session, "events": [{"itemId": item["itemId"], "kind": kind}]})
                (self.rejected if kind == "rejected" else self.seen).add(item["itemId"])
                self.lines += [f"**{kind}:** {item['title']}", ""]
            elif "add" in step:
                added = self.client.request("catalog/add", {"items": [step["add"]]})["items"][0]
                self.catalog[added["itemId"]] = {"metadata": added["metadata"], "title": added["title"], "description": added["description"]}
                self.lines += [f"**catalog/add:** {added['title']} (item {added['itemId']}): {added['description']}", ""]
            self.lines.append("")
        self.client.request("session/close", {"sessionId": session})

    def close(self) -> None:
        self.client.shutdown()
        self.client.exit()
        self.client.wait(timeout=30)


@pytest.mark.parametrize("script", SCRIPTS, ids=[script["name"] for script in SCRIPTS])
def test_conversation(environment: dict[str, Any], script: dict[str, Any]) -> None:
    conversation = Conversation(environment, script)
    try:
        conversation.run()
    finally:
        conversation.close()
    text = "\n".join(conversation.lines).rstrip() + "\n"
    out = environment["transcripts"]
    out.mkdir(exist_ok=True)
    (out / f"{script['name']}.md").write_text(text)
    if os.environ.get("LLMREC_RECORD_CONVERSATIONS") == "1":
        (HERE / "transcripts" / f"{script['name']}.md").write_text(text)
    assert not conversation.failures, f"{script['name']}: " + "; ".join(conversation.failures) + "\n\n" + text


def test_there_are_ten_conversations() -> None:
    assert len(SCRIPTS) == 10
    assert len({script["name"] for script in SCRIPTS}) == 10
