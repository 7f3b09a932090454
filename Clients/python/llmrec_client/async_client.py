"""asyncio client: one reader task per connection resolves a future per request.

All methods must be called from the event loop that made the client. Any number of tasks may have
requests in flight on one connection; cancelling a task that awaits a request sends
``$/cancelRequest`` for it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any, Generator

from .dispatch import DeltaCallback, Dispatcher, NotificationCallback, ProgressCallback
from .endpoint import default_socket_path, start_daemon
from .errors import ConnectionClosed
from .framing import FrameDecoder, FramingError, encode_message
from .methods import CLIENT_NAME, CLIENT_VERSION, ProtocolMethods

_CHUNK = 64 * 1024


class AsyncPendingRequest:
    """A request in flight; await it for the result. ``id`` is its JSON-RPC id, for :meth:`AsyncClient.cancel`."""

    def __init__(self, client: AsyncClient, request_id: int, future: asyncio.Future[Any]) -> None:
        self._client = client
        self.id = request_id
        self._future = future

    async def result(self) -> Any:
        """Waits for the reply: returns its result or raises its typed error (or :class:`ConnectionClosed`).

        If the waiting task is cancelled, ``$/cancelRequest`` is sent for this request.
        """
        try:
            return await self._future
        except asyncio.CancelledError:
            self._client._send_nowait({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": self.id}})
            raise

    def __await__(self) -> Generator[Any, None, Any]:
        return self.result().__await__()

    def done(self) -> bool:
        """True once the reply (or a connection failure) has arrived."""
        return self._future.done()


class AsyncClient(ProtocolMethods):
    """A JSON-RPC connection to ``llmrec serve`` for asyncio; make one with :func:`spawn` or :func:`connect`.

    The typed methods (``session_open``, ``session_recommend``, ...) return awaitables. Progress,
    answer-delta and notification callbacks are plain functions run by the reader task; they must
    not block.
    Use it as an async context manager, or await :meth:`close`.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        process: asyncio.subprocess.Process | None = None,
        close_timeout: float = 10.0,
        on_notification: NotificationCallback | None = None,
    ) -> None:
        self.process = process
        self._reader = reader
        self._writer = writer
        self._close_timeout = close_timeout
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._dispatcher = Dispatcher(on_notification)
        self._read_task = self._loop.create_task(self._read_loop(), name="llmrec-client-reader")

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def submit(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> AsyncPendingRequest:
        """Sends a request and returns its :class:`AsyncPendingRequest` without waiting for the reply.

        ``on_progress`` is given a fresh ``workDoneToken`` (added to ``params``) and receives its
        ``$/progress`` values. ``on_delta`` receives the text of each ``session/answerDelta`` of
        this request, in order, all before the reply. Raises :class:`ConnectionClosed` if the
        connection has ended.
        """
        future: asyncio.Future[Any] = self._loop.create_future()
        request_id, message = self._dispatcher.register(method, params, future, on_progress, on_delta)
        try:
            await self._send(message)
        except ConnectionClosed:
            self._dispatcher.forget(request_id)
            raise
        return AsyncPendingRequest(self, request_id, future)

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Any:
        """Sends a request and waits for its reply; returns the result or raises its typed error.

        ``on_progress`` and ``on_delta`` are as in :meth:`submit`. Bound the wait with
        ``asyncio.wait_for``: the timeout cancels the request on the daemon.
        """
        pending = await self.submit(method, params, on_progress=on_progress, on_delta=on_delta)
        return await pending

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Sends a notification (no reply)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def cancel(self, request_id: int) -> None:
        """Sends ``$/cancelRequest``: the request's reply becomes :class:`RequestCancelled` unless it already finished."""
        await self.notify("$/cancelRequest", {"id": request_id})

    async def initialize(
        self,
        client_name: str = CLIENT_NAME,
        client_version: str | None = CLIENT_VERSION,
        capabilities: Mapping[str, Any] | None = None,
    ) -> Any:
        """Sends ``initialize`` and then the ``initialized`` notification; returns the daemon's
        ``{serverInfo, protocolVersion, capabilities, loaded, limits}``."""
        result = await self.request("initialize", self.initialize_params(client_name, client_version, capabilities))
        await self.notify("initialized", {})
        return result

    async def wait(self) -> int:
        """Waits for a spawned daemon to end (e.g. after :meth:`exit`) and returns its exit status."""
        if self.process is None:
            raise TypeError("wait() needs a daemon started with spawn()")
        return await self.process.wait()

    async def close(self) -> None:
        """Closes the connection; a spawned daemon sees end of file and is waited for (killed after
        ``close_timeout`` seconds). Requests still waiting fail with :class:`ConnectionClosed`. Idempotent."""
        self._closing = True
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
        if self.process is not None:
            try:
                await asyncio.wait_for(self.process.wait(), self._close_timeout)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        else:
            self._read_task.cancel()
        await asyncio.gather(self._read_task, return_exceptions=True)

    async def _send(self, message: Any) -> None:
        try:
            self._writer.write(encode_message(message))
            await self._writer.drain()
        except (OSError, RuntimeError) as error:
            raise ConnectionClosed(f"cannot send to the daemon: {error}") from error

    def _send_nowait(self, message: Any) -> None:
        if not self._writer.is_closing():
            self._writer.write(encode_message(message))

    async def _read_loop(self) -> None:
        decoder = FrameDecoder()
        reason = "the daemon closed the connection"
        try:
            while chunk := await self._reader.read(_CHUNK):
                for body in decoder.feed(chunk):
                    self._dispatcher.dispatch(body)
            if not decoder.idle:
                reason += " in the middle of a message"
        except FramingError as error:
            reason = f"the daemon's framing is broken: {error}"
            self._writer.close()
        except OSError as error:
            reason = f"connection to the daemon lost: {error}"
        finally:
            if self._closing:
                reason = "the client closed the connection"
            self._dispatcher.close(ConnectionClosed(reason))


async def spawn(
    executable: str | os.PathLike[str],
    args: Sequence[str],
    *,
    stderr: int | IO[Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    on_notification: NotificationCallback | None = None,
) -> AsyncClient:
    """Starts ``executable *args`` (e.g. ``["serve", "--stdio", "--data", DIR]``) and returns a client on its pipes.

    ``stderr`` is where the daemon's logs go (``None``: inherited; ``subprocess.DEVNULL`` to drop).
    The daemon is not initialized yet: await :meth:`AsyncClient.initialize`.
    """
    process = await asyncio.create_subprocess_exec(
        os.fspath(executable),
        *args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    assert process.stdin is not None and process.stdout is not None
    return AsyncClient(process.stdout, process.stdin, process=process, on_notification=on_notification)


async def connect(
    socket_path: str | os.PathLike[str] | None = None,
    *,
    on_notification: NotificationCallback | None = None,
    start: bool | None = None,
    llmrec: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> AsyncClient:
    """Connects to the daemon on ``socket_path``, by default the user's shared daemon; starts it
    when none answers and ``start`` is true, the default without ``socket_path`` (as
    :func:`llmrec_client.connect`). The connection starts uninitialized."""
    if start is None:
        start = socket_path is None
    path = os.fspath(socket_path) if socket_path is not None else default_socket_path()
    try:
        reader, writer = await asyncio.open_unix_connection(path)
    except (FileNotFoundError, ConnectionRefusedError):
        if not start:
            raise
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(None, lambda: start_daemon(socket_path, llmrec=llmrec, config=config))
        reader, writer = await asyncio.open_unix_connection(path)
    return AsyncClient(reader, writer, on_notification=on_notification)
