"""Typed exceptions for LLMRec's JSON-RPC error codes (Protocol/spec.md, "Errors")."""

from __future__ import annotations

from typing import Any


class LLMRecError(Exception):
    """An error response from the daemon.

    ``code`` is the JSON-RPC error code, ``message`` the daemon's human-readable text and ``data``
    the optional structured detail (``None`` when absent). Each documented code has a subclass;
    an undocumented code raises this base class.
    """

    code: int = 0

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    def _data_field(self, key: str) -> Any:
        return self.data.get(key) if isinstance(self.data, dict) else None


class ParseError(LLMRecError):
    """-32700: the body was not valid JSON/UTF-8, or the header block was malformed."""

    code = -32700


class InvalidRequest(LLMRecError):
    """-32600: not a JSON-RPC 2.0 request, a bad batch, an oversized body, or a request after shutdown."""

    code = -32600


class MethodNotFound(LLMRecError):
    """-32601: the daemon has no such method."""

    code = -32601


class InvalidParams(LLMRecError):
    """-32602: a missing, mistyped or out-of-range parameter; :attr:`field` names it."""

    code = -32602

    @property
    def field(self) -> str | None:
        return self._data_field("field")


class InternalError(LLMRecError):
    """-32603: a bug in the daemon; the daemon keeps running."""

    code = -32603


class ServerNotInitialized(LLMRecError):
    """-32002: a request before ``initialize`` was answered."""

    code = -32002


class Overloaded(LLMRecError):
    """-32003: the lane's queue was full (``model/load``: a load is running); retry later.
    :attr:`lane` and :attr:`capacity` say which."""

    code = -32003

    @property
    def lane(self) -> str | None:
        return self._data_field("lane")

    @property
    def capacity(self) -> int | None:
        return self._data_field("capacity")


class RequestCancelled(LLMRecError):
    """-32800: the request was cancelled with ``$/cancelRequest``."""

    code = -32800


class SessionNotFound(LLMRecError):
    """-32010: unknown, closed, expired or evicted session; :attr:`session_id` names it."""

    code = -32010

    @property
    def session_id(self) -> str | None:
        return self._data_field("sessionId")


class ItemNotFound(LLMRecError):
    """-32011: item ids outside the catalog; :attr:`item_ids` lists them."""

    code = -32011

    @property
    def item_ids(self) -> list[int] | None:
        return self._data_field("itemIds")


class ModelNotLoaded(LLMRecError):
    """-32012: the method needs a model the daemon was started without (``catalog/add``: an encoder)."""

    code = -32012


class LoadFailed(LLMRecError):
    """-32013: ``model/load`` could not load what it was asked to; the models in use stay."""

    code = -32013


class StoreUnavailable(LLMRecError):
    """-32014: a daemon started with ``--store`` could not reach Redis (or Redis refused the change);
    nothing of the request was kept; retry later. :attr:`store` is the store's URL (no password)."""

    code = -32014

    @property
    def store(self) -> str | None:
        return self._data_field("store")


class ConnectionClosed(ConnectionError):
    """The connection to the daemon ended (or broke) before the request was answered."""


_BY_CODE: dict[int, type[LLMRecError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        ServerNotInitialized,
        Overloaded,
        RequestCancelled,
        SessionNotFound,
        ItemNotFound,
        ModelNotLoaded,
        LoadFailed,
        StoreUnavailable,
    )
}


def error_from_response(error: dict[str, Any]) -> LLMRecError:
    """Builds the typed exception for a JSON-RPC ``error`` object."""
    code = error.get("code")
    if not isinstance(code, int):
        return InternalError(-32603, f"malformed error object from daemon: {error!r}")
    cls = _BY_CODE.get(code, LLMRecError)
    return cls(code, str(error.get("message", "")), error.get("data"))
