"""Pairing of replies with requests, shared by the thread-based and the asyncio clients.

The dispatcher owns no I/O. A client registers each request's future before sending it, and its
reader hands every received body to :meth:`Dispatcher.dispatch`, which resolves the future named by
the reply's ``id``, routes ``$/progress`` notifications to the callback of their token and
``session/answerDelta`` notifications to the callback of the request named by their ``requestId``.
Futures only need ``done()``, ``set_result()`` and ``set_exception()``, so both
``concurrent.futures.Future`` and ``asyncio.Future`` fit.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .errors import ConnectionClosed, error_from_response

log = logging.getLogger("llmrec_client")

ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives the ``value`` of each ``$/progress`` notification: ``{"kind", "title"?, "message"?, "percentage"?}``."""

DeltaCallback = Callable[[str], None]
"""Receives the ``text`` of each ``session/answerDelta`` notification of one request, in order."""

NotificationCallback = Callable[[str, Any], None]
"""Receives ``(method, params)`` of a daemon notification that no request's callback took: any
method other than ``$/progress``, and ``session/answerDelta`` for a request made without ``on_delta``."""

ANSWER_DELTA = "session/answerDelta"


class FutureLike(Protocol):
    def done(self) -> bool: ...
    def set_result(self, result: Any) -> None: ...
    def set_exception(self, exception: BaseException) -> None: ...


@dataclass
class _Pending:
    future: FutureLike
    progress_token: str | None
    on_delta: DeltaCallback | None = None


class Dispatcher:
    """Request ids, progress tokens and the table of requests awaiting a reply.

    Thread-safe: ``register`` may run on any thread while ``dispatch`` runs on the reader.
    Callbacks run on the thread that calls ``dispatch``; an exception they raise is logged, not
    propagated, so a faulty callback cannot stop the reader.
    """

    def __init__(self, on_notification: NotificationCallback | None = None) -> None:
        self._on_notification = on_notification
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._progress: dict[str, ProgressCallback] = {}
        self._closed: ConnectionClosed | None = None

    def register(
        self,
        method: str,
        params: dict[str, Any] | None,
        future: FutureLike,
        on_progress: ProgressCallback | None,
        on_delta: DeltaCallback | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Allocates an id for a request and records its future; returns ``(id, message)``.

        With ``on_progress``, a fresh ``workDoneToken`` is added to a copy of ``params`` and the
        callback receives that token's progress values until the reply arrives. With ``on_delta``,
        the callback receives the text of each ``session/answerDelta`` whose ``requestId`` is this
        request's id, until the reply arrives.
        Raises :class:`ConnectionClosed` once the connection has ended.
        """
        with self._lock:
            if self._closed is not None:
                raise self._closed
            request_id = next(self._ids)
            token = None
            if on_progress is not None:
                token = f"llmrec-py-{next(self._tokens)}"
                params = {**(params or {}), "workDoneToken": token}
                self._progress[token] = on_progress
            self._pending[request_id] = _Pending(future, token, on_delta)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        return request_id, message

    def forget(self, request_id: int) -> None:
        """Drops a request that could not be sent."""
        with self._lock:
            pending = self._pending.pop(request_id, None)
            if pending is not None and pending.progress_token is not None:
                self._progress.pop(pending.progress_token, None)

    def dispatch(self, body: bytes) -> None:
        """Routes one received message body (a response, a notification, or a batch of them)."""
        try:
            message = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            log.warning("daemon sent a body that is not JSON (%s): %r", error, body[:200])
            return
        for item in message if isinstance(message, list) else [message]:
            self._dispatch_one(item)

    def close(self, reason: ConnectionClosed) -> None:
        """Fails every waiting request with ``reason``; later ``register`` calls raise it."""
        with self._lock:
            self._closed = reason
            pending, self._pending = self._pending, {}
            self._progress.clear()
        for entry in pending.values():
            _settle(entry.future, exception=reason)

    def _dispatch_one(self, message: Any) -> None:
        if not isinstance(message, dict):
            log.warning("daemon sent a message that is not an object: %r", message)
        elif "method" in message:
            self._notification(message)
        elif "result" in message or "error" in message:
            self._response(message)
        else:
            log.warning("daemon sent a message that is neither a response nor a notification: %r", message)

    def _response(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        with self._lock:
            entry = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
            if entry is not None and entry.progress_token is not None:
                self._progress.pop(entry.progress_token, None)
        if entry is None:
            if "error" in message:
                log.warning("error reply for no pending request (id %r): %r", request_id, message["error"])
            return
        if "error" in message:
            _settle(entry.future, exception=error_from_response(message["error"]))
        else:
            _settle(entry.future, result=message["result"])

    def _notification(self, message: dict[str, Any]) -> None:
        method, params = message["method"], message.get("params")
        if "id" in message:
            log.warning("ignoring request from the daemon (the protocol defines none): %r", message)
        elif method == "$/progress" and isinstance(params, dict):
            with self._lock:
                callback = self._progress.get(params.get("token"))
            if callback is not None:
                _call_safely(callback, params.get("value"))
        elif method == ANSWER_DELTA and (on_delta := self._delta_callback(params)) is not None:
            _call_safely(on_delta, params.get("text", ""))
        elif self._on_notification is not None:
            _call_safely(self._on_notification, method, params)

    def _delta_callback(self, params: Any) -> DeltaCallback | None:
        """The ``on_delta`` of the pending request an answer delta names, if it has one."""
        if not isinstance(params, dict):
            return None
        request_id = params.get("requestId")
        if not isinstance(request_id, int) or isinstance(request_id, bool):
            return None
        with self._lock:
            entry = self._pending.get(request_id)
        return entry.on_delta if entry is not None else None


def _settle(future: FutureLike, *, result: Any = None, exception: BaseException | None = None) -> None:
    # A future may already be done: its awaiting asyncio task was cancelled.
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


def _call_safely(callback: Callable[..., None], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("callback %r raised", callback)
