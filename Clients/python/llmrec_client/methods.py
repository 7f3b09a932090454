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

from .dispatch import ProgressCallback

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


def _without_none(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


class ProtocolMethods:
    """Mixin: requires ``request(method, params=None, *, on_progress=None)`` and ``notify(method, params=None)``."""

    def request(self, method: str, params: dict[str, Any] | None = None, *, on_progress: ProgressCallback | None = None) -> Any:
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
    ) -> Any:
        """``session/recommend``; returns ``{"sessionId", "recommender", "items": [{"itemId", "score", "title"}]}``.

        Ranks ``candidates`` (default: the whole catalog) and leaves out ``exclude``, rejected
        items and, unless ``exclude_seen`` is false, the history. ``k`` is 1-maxK (default 10).
        ``on_progress`` receives the ``$/progress`` values of this request, all before it returns.
        """
        params = _without_none(
            sessionId=session_id,
            k=k,
            candidates=list(candidates) if candidates is not None else None,
            exclude=list(exclude) if exclude is not None else None,
            excludeSeen=exclude_seen,
        )
        return self.request("session/recommend", params, on_progress=on_progress)

    def session_get(self, session_id: str) -> Any:
        """``session/get``; returns ``{"sessionId", "history", "events", "rejected", "createdAt", "updatedAt"}`` (times in Unix seconds)."""
        return self.request("session/get", {"sessionId": session_id})

    def session_close(self, session_id: str) -> Any:
        """``session/close``; returns ``{"sessionId", "closed": True}``. The id is unknown afterwards."""
        return self.request("session/close", {"sessionId": session_id})

    def server_status(self) -> Any:
        """``server/status``: uptime, connections, sessions, lanes, request counters, latency, memory."""
        return self.request("server/status")
