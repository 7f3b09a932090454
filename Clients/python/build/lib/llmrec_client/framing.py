"""LSP base-protocol framing (``Content-Length`` headers) for LLMRec's JSON-RPC messages.

The encoder and the decoder do no I/O, so the thread-based and the asyncio clients share them:
feed whatever bytes the transport delivered to :class:`FrameDecoder` and get back whole bodies.
"""

from __future__ import annotations

import json
from typing import Any

#: The daemon refuses header blocks larger than this; the decoder applies the same bound.
MAX_HEADER_BYTES = 8 * 1024


class FramingError(ValueError):
    """The byte stream is not LSP-framed; the connection cannot be resynchronised."""


def frame(body: bytes) -> bytes:
    """Returns ``body`` prefixed with its ``Content-Length`` header block."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode_message(message: Any) -> bytes:
    """Serialises a JSON-RPC message (or batch) as compact UTF-8 JSON and frames it."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return frame(body)


class FrameDecoder:
    """Incremental decoder: bytes in, complete message bodies out.

    Accepts what the spec says a peer may send: header names in any case, unknown headers,
    ``\\r\\n`` or bare ``\\n`` line ends, an optional ``Content-Type`` whose charset is UTF-8.
    Not thread-safe: one decoder belongs to one reader.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._body_length: int | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Appends ``data`` and returns every body it completed, oldest first.

        Raises :class:`FramingError` on a malformed header block; the decoder is unusable after.
        """
        self._buffer += data
        bodies = []
        while True:
            if self._body_length is None:
                self._body_length = self._take_header_block()
                if self._body_length is None:
                    return bodies
            if len(self._buffer) < self._body_length:
                return bodies
            bodies.append(bytes(self._buffer[: self._body_length]))
            del self._buffer[: self._body_length]
            self._body_length = None

    @property
    def idle(self) -> bool:
        """True when no partial message is buffered (a clean place for the stream to end)."""
        return self._body_length is None and not self._buffer

    def _take_header_block(self) -> int | None:
        block_end, consumed = _header_end(self._buffer)
        if block_end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise FramingError(f"header block exceeds {MAX_HEADER_BYTES} bytes")
            return None
        if block_end > MAX_HEADER_BYTES:
            raise FramingError(f"header block exceeds {MAX_HEADER_BYTES} bytes")
        block = bytes(self._buffer[:block_end])
        del self._buffer[:consumed]
        return _content_length(block)


def _header_end(buffer: bytearray) -> tuple[int, int]:
    """Where the header block ends and where the body starts, or (-1, -1) if not buffered yet.

    The block ends at the first empty line (``\r\n`` or bare ``\n``).
    """
    start = 0
    while (newline := buffer.find(b"\n", start)) >= 0:
        if buffer[start:newline] in (b"", b"\r"):
            return max(start - 1, 0), newline + 1
        start = newline + 1
    return -1, -1


def _content_length(block: bytes) -> int:
    if not block:
        raise FramingError("empty header block")
    length = None
    for raw_line in block.split(b"\n"):
        line = raw_line.rstrip(b"\r").decode("ascii", errors="replace")
        name, colon, value = line.partition(":")
        if not colon:
            raise FramingError(f"header line without ':': {line!r}")
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            if not (value.isascii() and value.isdigit()):
                raise FramingError(f"Content-Length is not a non-negative integer: {value!r}")
            length = int(value)
        elif name == "content-type":
            _check_charset(value)
    if length is None:
        raise FramingError("header block has no Content-Length")
    return length


def _check_charset(content_type: str) -> None:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise FramingError(f"unsupported charset in Content-Type: {content_type!r}")
