"""Typed wrappers for every method of the LLMRec protocol, shared by both clients.

Each wrapper builds the method's params (camelCase, optional ones left out so the daemon applies
its documented defaults) and returns ``self.request(...)``: a result in :class:`~llmrec_client.Client`,
an awaitable of it in :class:`~llmrec_client.AsyncClient`. Results are the daemon's JSON objects as
dicts, exactly as Protocol/spec.md describes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .dispatch import DeltaCallback, ProgressCallback

CLIENT_NAME = "llmrec-client-python"
CLIENT_VERSION = "0.1.0"


class Event(NamedTuple):
    """One session event: ``kind`` is ``"viewed"``, ``"bought"`` or ``"rejected"``."""

    item_id: int
    kind: str


EventLike = Event | tuple[int, str] | Mapping[str, Any]
"""An :class:`Event`, an ``(item_id, kind)`` pair, or a wire-form ``{"itemId", "kind"}`` mapping."""


def _event(event: EventLike) -> dict[str, Any]:
    if isinstance(event, Mapping):
        return dict(event)
    item_id, kind = event
    return {"itemId": item_id, "kind": kind}


class NewItem(NamedTuple):
    """An item for ``catalog/add``: only ``title`` (1-500 characters) is required.

    ``original_id`` (1-200 characters) defaults on the daemon to ``"added-<id>"``.
    """

    title: str
    description: str | None = None
    metadata: Mapping[str, Any] | None = None
    original_id: str | None = None


NewItemLike = NewItem | Mapping[str, Any]
"""A :class:`NewItem`, or a wire-form ``{"title", "description"?, "metadata"?, "originalId"?}`` mapping."""


def _new_item(item: NewItemLike) -> dict[str, Any]:
    if isinstance(item, NewItem):
        return _without_none(
            title=item.title,
            description=item.description,
            metadata=dict(item.metadata) if item.metadata is not None else None,
            originalId=item.original_id,
        )
    return dict(item)


Weights = Mapping[str, float]
"""Blend weights, 0-10 each, by wire name: ``collaborative``, ``text``, ``facet``, ``languageModel``."""


def _without_none(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


class ProtocolMethods:
    """Mixin: requires ``request(method, params=None, *, on_progress=None, on_delta=None)`` and ``notify(method, params=None)``."""

    def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Any:
        raise NotImplementedError

    def notify(self, method: str, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    @staticmethod
    def initialize_params(
        client_name: str = CLIENT_NAME,
        client_version: str | None = CLIENT_VERSION,
        capabilities: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``initialize`` params this client sends: its process id, name, version and capabilities."""
        return _without_none(
            processId=os.getpid(),
            clientInfo=_without_none(name=client_name, version=client_version),
            capabilities=dict(capabilities) if capabilities is not None else None,
        )

    def shutdown(self) -> Any:
        """Asks the daemon to finish in-flight work; the result is ``None``. Afterwards only ``exit`` is accepted."""
        return self.request("shutdown")

    def exit(self) -> Any:
        """Sends the ``exit`` notification: a stdio daemon ends (status 0 after ``shutdown``), a socket connection closes."""
        return self.notify("exit")

    def catalog_get(self, item_ids: Iterable[int]) -> Any:
        """``catalog/get``: 1-1000 item ids; returns ``{"items": [Item]}`` in the order asked.

        ``Item`` is ``{"itemId", "originalId", "title", "description", "metadata"}``. Raises
        :class:`~llmrec_client.ItemNotFound` for ids outside the catalog.
        """
        return self.request("catalog/get", {"itemIds": list(item_ids)})

    def catalog_search(self, query: str, limit: int | None = None) -> Any:
        """``catalog/search`` over titles; returns ``{"items": [{"item": Item, "score"}]}``, best first.

        ``limit`` is 1-100 (daemon default 10).
        """
        return self.request("catalog/search", _without_none(query=query, limit=limit))

    def session_open(self, history: Iterable[int] | None = None, session_id: str | None = None) -> Any:
        """``session/open``; returns ``{"sessionId", "historyLength"}``.

        ``history`` is the shopper's items, oldest first. A ``session_id`` chosen by the client
        (1-128 characters of ``A-Za-z0-9._:-``) that already exists raises
        :class:`~llmrec_client.InvalidParams`; without one the daemon makes a random id.
        """
        return self.request(
            "session/open",
            _without_none(history=list(history) if history is not None else None, sessionId=session_id),
        )

    def session_observe(self, session_id: str, events: Iterable[EventLike]) -> Any:
        """``session/observe``; returns ``{"sessionId", "historyLength", "rejectedCount"}``.

        ``viewed`` and ``bought`` events append to the history; ``rejected`` items are never
        recommended in this session.
        """
        return self.request("session/observe", {"sessionId": session_id, "events": [_event(e) for e in events]})

    def session_recommend(
        self,
        session_id: str,
        k: int | None = None,
        candidates: Iterable[int] | None = None,
        exclude: Iterable[int] | None = None,
        exclude_seen: bool | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        query: str | None = None,
        explain: bool | None = None,
        weights: Weights | None = None,
    ) -> Any:
        """``session/recommend``; returns ``{"sessionId", "recommender", "items": [{"itemId", "score", "title"}]}``.

        Ranks ``candidates`` (default: the whole catalog) and leaves out ``exclude``, rejected
        items and, unless ``exclude_seen`` is false, the history. ``k`` is 1-maxK (default 10).
        ``on_progress`` receives the ``$/progress`` values of this request, all before it returns.

        ``query`` (words to rank for, not remembered), ``explain`` (the LM explains the list) and
        ``weights`` (see :data:`Weights`) make the blended engine answer, as do a session with
        ``session/message`` turns, a loaded A-LLMRec bundle or added items: then the result is
        ``{"sessionId", "recommender", "items": [RankedItem], "languageModelRanked", "explanation"?}``
        (``RankedItem`` as in :meth:`session_message`).
        """
        params = _without_none(
            sessionId=session_id,
            k=k,
            candidates=list(candidates) if candidates is not None else None,
            exclude=list(exclude) if exclude is not None else None,
            excludeSeen=exclude_seen,
            query=query,
            explain=explain,
            weights=dict(weights) if weights is not None else None,
        )
        return self.request("session/recommend", params, on_progress=on_progress)

    def session_message(
        self,
        session_id: str,
        text: str,
        k: int | None = None,
        answer: bool | None = None,
        stream: bool | None = None,
        max_answer_tokens: int | None = None,
        exclude_seen: bool | None = None,
        weights: Weights | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Any:
        """``session/message``: what the shopper said (1-4000 characters, not only white space).

        Returns ``{"sessionId", "understood", "items": [RankedItem], "answer", "excludedByStatement",
        "languageModelRanked", "languageModelReusedTokens", "timing"}``. ``understood`` is
        ``{"preferences", "exclusions", "wantedFacets", "excludedFacets", "reference"}``, plus
        ``"shift": {"lifted", "lowered"}`` (lists of ``{"itemId", "title"}``) when a retrieval model
        trained to listen read the words; a
        ``RankedItem`` is ``{"itemId", "title", "score", "scores": {"collaborative", "text",
        "languageModel"}, "matchedFacets", "added"}``; ``answer`` is ``None`` without an LM (or with
        ``answer=False``), else ``{"text", "generatedTokens", "promptTokens", "reusedTokens",
        "firstTokenMs", "totalMs", "finished"}``.

        ``k`` is 1-maxK (default 5), ``max_answer_tokens`` 1-512 (default 80). The message is
        remembered in the session. ``on_delta`` receives each streamed piece of the answer (``stream``
        is on by default), in order, all before the call returns. To cancel, send the request with
        ``submit("session/message", ..., on_delta=...)`` and pass its ``id`` to ``cancel``.
        """
        params = _without_none(
            sessionId=session_id,
            text=text,
            k=k,
            answer=answer,
            stream=stream,
            maxAnswerTokens=max_answer_tokens,
            excludeSeen=exclude_seen,
            weights=dict(weights) if weights is not None else None,
        )
        return self.request("session/message", params, on_delta=on_delta)

    def session_get(self, session_id: str) -> Any:
        """``session/get``; returns ``{"sessionId", "history", "events", "rejected", "createdAt", "updatedAt"}`` (times in Unix seconds)."""
        return self.request("session/get", {"sessionId": session_id})

    def session_close(self, session_id: str) -> Any:
        """``session/close``; returns ``{"sessionId", "closed": True}``. The id is unknown afterwards."""
        return self.request("session/close", {"sessionId": session_id})

    def catalog_add(self, items: Iterable[NewItemLike]) -> Any:
        """``catalog/add``: 1-100 items known by their text; returns ``{"items": [Item], "catalogSize"}``.

        The new items get the next ids and are recommendable at once through the text path.
        Raises :class:`~llmrec_client.ModelNotLoaded` when the daemon has no text encoder and
        :class:`~llmrec_client.InvalidParams` for an ``originalId`` already in the catalog
        (``field`` ``"items"``) or an unknown item field (``"items[0].NAME"``).
        """
        return self.request("catalog/add", {"items": [_new_item(item) for item in items]})

    def model_status(self) -> Any:
        """``model/status``: ``{"recommender", "encoder", "languageModel", "bundle", "capabilities",
        "catalogSize", "addedItems", "modelBytes", "chatCaches", "residentMemoryBytes", "loading",
        "loadSeconds", "generation"}`` (a part is ``{"name", "path", ...}`` or ``None``)."""
        return self.request("model/status")

    def model_load(
        self,
        bundle: str | os.PathLike[str] | None = None,
        language_model: str | os.PathLike[str] | None = None,
        encoder: str | os.PathLike[str] | None = None,
    ) -> Any:
        """``model/load``: loads an A-LLMRec bundle, an LM (GGUF file or Hugging Face directory) or
        an encoder (at least one), swaps it in when ready and returns the new :meth:`model_status`.

        The models in use keep serving meanwhile. Raises :class:`~llmrec_client.Overloaded` while
        another load runs and :class:`~llmrec_client.LoadFailed` when the path is missing or holds
        no such model (one answer for both, naming the part that failed; the old models stay).
        """
        return self.request(
            "model/load",
            _without_none(
                bundle=os.fspath(bundle) if bundle is not None else None,
                languageModel=os.fspath(language_model) if language_model is not None else None,
                encoder=os.fspath(encoder) if encoder is not None else None,
            ),
        )

    def server_status(self) -> Any:
        """``server/status``: uptime, connections, sessions, lanes, request counters, latency, memory."""
        return self.request("server/status")
