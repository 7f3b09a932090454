"""Thread-based client: blocking calls, safe to share between threads.

One reader thread per connection decodes replies and resolves the futures of waiting callers, so
any number of threads may have requests in flight on one connection at once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import IO, Any, Protocol

from .dispatch import DeltaCallback, Dispatcher, NotificationCallback, ProgressCallback
from .endpoint import default_socket_path, start_daemon
from .errors import ConnectionClosed
from .framing import FrameDecoder, FramingError, encode_message
from .methods import CLIENT_NAME, CLIENT_VERSION, ProtocolMethods

_CHUNK = 64 * 1024


class Transport(Protocol):
    """A byte stream to the daemon. ``send`` may be called under the client's write lock only;
    ``recv`` only from the reader thread; ``recv`` returns ``b""`` at end of stream."""

    def send(self, data: bytes) -> None: ...
    def recv(self) -> bytes: ...
    def close(self) -> None: ...


class SocketTransport:
    """A connected Unix stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def recv(self) -> bytes:
        return self._sock.recv(_CHUNK)

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class ProcessTransport:
    """The stdin and stdout pipes of a daemon started with ``serve --stdio``.

    ``close`` closes stdin (the daemon exits at end of file) and waits ``close_timeout`` seconds
    for the process before killing it.
    """

    def __init__(self, process: subprocess.Popen[bytes], close_timeout: float = 10.0) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._stdin: IO[bytes] = process.stdin
        self._stdout_fd = process.stdout.fileno()
        self._close_timeout = close_timeout

    def send(self, data: bytes) -> None:
        self._stdin.write(data)
        self._stdin.flush()

    def recv(self) -> bytes:
        return os.read(self._stdout_fd, _CHUNK)

    def close(self) -> None:
        try:
            self._stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(self._close_timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PendingRequest:
    """A request in flight. ``id`` is its JSON-RPC id, for :meth:`Client.cancel`."""

    def __init__(self, client: Client, request_id: int, future: Future[Any]) -> None:
        self._client = client
        self.id = request_id
        self._future = future

    def result(self, timeout: float | None = None) -> Any:
        """Blocks until the reply and returns its result, or raises its typed error.

        After ``timeout`` seconds (``None``: no limit) the request is cancelled on the daemon
        and :class:`TimeoutError` is raised. Raises :class:`ConnectionClosed` if the connection
        ends first.
        """
        try:
            return self._future.result(timeout)
        except TimeoutError:
            self._client.cancel(self.id)
            raise TimeoutError(f"request {self.id} got no reply within {timeout} s; cancelled") from None

    def done(self) -> bool:
        """True once the reply (or a connection failure) has arrived."""
        return self._future.done()


class Client(ProtocolMethods):
    """A JSON-RPC connection to ``llmrec serve``; use :func:`spawn` or :func:`connect` to make one.

    Every method may be called from any thread. ``timeout`` is the default limit, in seconds, for
    a blocking request (``None``: wait forever). Progress, answer-delta and notification callbacks
    run on the reader thread and must not block it (they must not make requests and wait for them;
    sending a notification such as :meth:`cancel` is fine).
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        timeout: float | None = None,
        on_notification: NotificationCallback | None = None,
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self._dispatcher = Dispatcher(on_notification)
        self._write_lock = threading.Lock()
        self._closing = False
        self._reader = threading.Thread(target=self._read_loop, name="llmrec-client-reader", daemon=True)
        self._reader.start()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The daemon process when this client spawned it, else ``None``."""
        return self.transport.process if isinstance(self.transport, ProcessTransport) else None

    def submit(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> PendingRequest:
        """Sends a request without waiting; returns its :class:`PendingRequest`.

        ``on_progress`` is given a fresh ``workDoneToken`` (added to ``params``) and receives its
        ``$/progress`` values. ``on_delta`` receives the text of each ``session/answerDelta`` of
        this request, in order, all before the reply. Raises :class:`ConnectionClosed` if the
        connection has ended.
        """
        future: Future[Any] = Future()
        request_id, message = self._dispatcher.register(method, params, future, on_progress, on_delta)
        try:
            self._send(message)
        except ConnectionClosed:
            self._dispatcher.forget(request_id)
            raise
        return PendingRequest(self, request_id, future)

    def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        on_delta: DeltaCallback | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Sends a request and blocks until its reply; returns the result or raises its typed error.

        ``on_progress`` and ``on_delta`` are as in :meth:`submit`. ``timeout`` overrides the
        client's default; see :meth:`PendingRequest.result`.
        """
        pending = self.submit(method, params, on_progress=on_progress, on_delta=on_delta)
        return pending.result(timeout if timeout is not None else self.timeout)

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Sends a notification (no reply)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def cancel(self, request_id: int) -> None:
        """Sends ``$/cancelRequest``: the request's reply becomes :class:`RequestCancelled` unless it already finished."""
        self.notify("$/cancelRequest", {"id": request_id})

    def initialize(
        self,
        client_name: str = CLIENT_NAME,
        client_version: str | None = CLIENT_VERSION,
        capabilities: Mapping[str, Any] | None = None,
    ) -> Any:
        """Sends ``initialize`` and then the ``initialized`` notification; returns the daemon's
        ``{serverInfo, protocolVersion, capabilities, loaded, limits}``."""
        result = self.request("initialize", self.initialize_params(client_name, client_version, capabilities))
        self.notify("initialized", {})
        return result

    def wait(self, timeout: float | None = None) -> int:
        """Waits for a spawned daemon to end (e.g. after :meth:`exit`) and returns its exit status."""
        process = self.process
        if process is None:
            raise TypeError("wait() needs a daemon started with spawn()")
        return process.wait(timeout)

    def close(self) -> None:
        """Closes the connection (a spawned daemon sees end of file and is waited for).

        Requests still waiting fail with :class:`ConnectionClosed`. Idempotent.
        """
        self._closing = True
        self.transport.close()
        if threading.current_thread() is not self._reader:
            self._reader.join()

    def _send(self, message: Any) -> None:
        data = encode_message(message)
        try:
            with self._write_lock:
                self.transport.send(data)
        except (OSError, ValueError) as error:
            raise ConnectionClosed(f"cannot send to the daemon: {error}") from error

    def _read_loop(self) -> None:
        decoder = FrameDecoder()
        reason = "the daemon closed the connection"
        try:
            while chunk := self.transport.recv():
                for body in decoder.feed(chunk):
                    self._dispatcher.dispatch(body)
            if not decoder.idle:
                reason += " in the middle of a message"
        except FramingError as error:
            reason = f"the daemon's framing is broken: {error}"
            self.transport.close()
        except (OSError, ValueError) as error:
            reason = f"connection to the daemon lost: {error}"
        if self._closing:
            reason = "the client closed the connection"
        self._dispatcher.close(ConnectionClosed(reason))


def spawn(
    executable: str | os.PathLike[str],
    args: Sequence[str],
    *,
    stderr: int | IO[Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    on_notification: NotificationCallback | None = None,
) -> Client:
    """Starts ``executable *args`` (e.g. ``["serve", "--stdio", "--data", DIR]``) and returns a client on its pipes.

    ``stderr`` is where the daemon's logs go (``None``: inherited; ``subprocess.DEVNULL`` to drop).
    The daemon is not initialized yet: call :meth:`Client.initialize`.
    """
    process = subprocess.Popen(
        [os.fspath(executable), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    return Client(ProcessTransport(process), timeout=timeout, on_notification=on_notification)


def connect(
    socket_path: str | os.PathLike[str] | None = None,
    *,
    timeout: float | None = None,
    on_notification: NotificationCallback | None = None,
    start: bool | None = None,
    llmrec: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> Client:
    """Connects to the daemon on ``socket_path``, by default the user's shared daemon
    (:func:`default_socket_path`). When none answers there and ``start`` is true (the default
    without ``socket_path``), ``llmrec start`` starts it (with ``config``, the configuration file,
    when given) and waits for it. The connection starts uninitialized."""
    if start is None:
        start = socket_path is None
    path = os.fspath(socket_path) if socket_path is not None else default_socket_path()

    def attempt() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return sock

    try:
        sock = attempt()
    except (FileNotFoundError, ConnectionRefusedError):
        if not start:
            raise
        path = start_daemon(socket_path, llmrec=llmrec, config=config)
        sock = attempt()
    return Client(SocketTransport(sock), timeout=timeout, on_notification=on_notification)
