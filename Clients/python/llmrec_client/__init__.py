"""Python client for the LLMRec daemon (``llmrec serve``), standard library only.

Two clients speak the same protocol (Protocol/spec.md): :class:`Client` (blocking, thread-safe)
made by :func:`spawn` / :func:`connect`, and :class:`AsyncClient` (asyncio) made by
:func:`spawn_async` / :func:`connect_async`. Error replies raise a subclass of :class:`LLMRecError`.
"""

from .async_client import AsyncClient, AsyncPendingRequest
from .async_client import connect as connect_async
from .async_client import spawn as spawn_async
from .errors import (
    ConnectionClosed,
    InternalError,
    InvalidParams,
    InvalidRequest,
    ItemNotFound,
    LLMRecError,
    LoadFailed,
    MethodNotFound,
    ModelNotLoaded,
    Overloaded,
    ParseError,
    RequestCancelled,
    ServerNotInitialized,
    SessionNotFound,
    StoreUnavailable,
    error_from_response,
)
from .endpoint import default_socket_path, start_daemon
from .framing import FrameDecoder, FramingError, encode_message, frame
from .methods import CLIENT_VERSION as __version__
from .methods import Event, NewItem
from .sync_client import Client, PendingRequest, connect, spawn

__all__ = [
    "default_socket_path",
    "start_daemon",
    "AsyncClient",
    "AsyncPendingRequest",
    "Client",
    "ConnectionClosed",
    "Event",
    "FrameDecoder",
    "FramingError",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "ItemNotFound",
    "LLMRecError",
    "LoadFailed",
    "MethodNotFound",
    "ModelNotLoaded",
    "NewItem",
    "Overloaded",
    "ParseError",
    "PendingRequest",
    "RequestCancelled",
    "ServerNotInitialized",
    "SessionNotFound",
    "StoreUnavailable",
    "connect",
    "connect_async",
    "encode_message",
    "error_from_response",
    "frame",
    "spawn",
    "spawn_async",
]
