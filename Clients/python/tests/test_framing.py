"""The client's framing and error mapping, without a daemon."""

import pytest

from llmrec_client import (
    FrameDecoder,
    FramingError,
    InvalidParams,
    LLMRecError,
    Overloaded,
    SessionNotFound,
    StoreUnavailable,
    encode_message,
    error_from_response,
    frame,
)


def test_encodes_compact_utf8_with_byte_length() -> None:
    data = encode_message({"jsonrpc": "2.0", "method": "é"})
    body = '{"jsonrpc":"2.0","method":"é"}'.encode()
    assert data == b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_decodes_messages_split_at_every_byte() -> None:
    stream = frame(b"{}") + frame('{"a":"ü"}'.encode()) + frame(b"[]")
    decoder = FrameDecoder()
    bodies = [body for i in range(len(stream)) for body in decoder.feed(stream[i : i + 1])]
    assert bodies == [b"{}", '{"a":"ü"}'.encode(), b"[]"]
    assert decoder.idle


def test_accepts_any_header_case_unknown_headers_bare_newlines_and_utf8_content_type() -> None:
    stream = b"content-LENGTH: 2\nX-Other: 1\nContent-Type: application/vscode-jsonrpc; charset=utf8\n\n{}"
    assert FrameDecoder().feed(stream) == [b"{}"]


def test_keeps_partial_message_buffered() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: 10\r\n\r\n{") == []
    assert not decoder.idle


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Type: application/json\r\n\r\n",
        b"Content-Length: -1\r\n\r\n",
        b"Content-Length: ten\r\n\r\n",
        b"Content-Length 10\r\n\r\n",
        b"Content-Length: 2\r\nContent-Type: text/plain; charset=latin-1\r\n\r\n",
        b"X: " + b"a" * 9000,
    ],
)
def test_rejects_malformed_header_blocks(header: bytes) -> None:
    with pytest.raises(FramingError):
        FrameDecoder().feed(header)


def test_maps_documented_codes_to_typed_errors() -> None:
    error = error_from_response({"code": -32602, "message": "bad k", "data": {"field": "k"}})
    assert isinstance(error, InvalidParams) and error.field == "k" and error.message == "bad k"
    missing = error_from_response({"code": -32010, "message": "no", "data": {"sessionId": "s"}})
    assert isinstance(missing, SessionNotFound) and missing.session_id == "s"
    busy = error_from_response({"code": -32003, "message": "busy", "data": {"lane": "model", "capacity": 4}})
    assert isinstance(busy, Overloaded) and (busy.lane, busy.capacity) == ("model", 4)
    store = error_from_response({"code": -32014, "message": "down", "data": {"store": "redis://h:6379"}})
    assert isinstance(store, StoreUnavailable) and store.store == "redis://h:6379"
    other = error_from_response({"code": -1, "message": "?"})
    assert type(other) is LLMRecError and other.code == -1 and other.data is None
