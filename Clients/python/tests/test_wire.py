"""Raw wire behaviour (spec "Transport and framing", "Messages") over a Unix socket."""

from __future__ import annotations

import json

from llmrec_client import frame
from support import RawConnection, SocketDaemon


def error_of(reply: dict, code: int) -> dict:
    assert "error" in reply and reply["error"]["code"] == code, reply
    assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
    return reply["error"]


def test_invalid_json_is_a_parse_error_and_the_connection_continues(socket_daemon: SocketDaemon) -> None:
    with RawConnection(socket_daemon.path) as wire:
        wire.initialize()
        for body in (b'{"jsonrpc": "2.0", "id": 1, "method"', b'"\xff\xfe"'):
            wire.send(frame(body))
            reply = wire.receive()
            error_of(reply, -32700)
            assert reply["id"] is None
        assert "result" in wire.request(2, "server/status")


def test_non_request_objects_are_invalid_requests(socket_daemon: SocketDaemon) -> None:
    with RawConnection(socket_daemon.path) as wire:
        wire.initialize()
        for message in ({"jsonrpc": "1.0", "id": 5, "method": "server/status"}, {"jsonrpc": "2.0", "id": 6}, 42):
            wire.send_message(message)
            error_of(wire.receive(), -32600)
        assert "result" in wire.request(7, "server/status")


def test_header_variants_the_spec_tolerates(socket_daemon: SocketDaemon) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": "s", "method": "server/status"}).encode()
    with RawConnection(socket_daemon.path) as wire:
        wire.initialize()
        for header in (
            b"content-length: %d\n\n" % len(body),
            b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\nX-Extra: 1\r\n\r\n" % len(body),
            b"CONTENT-LENGTH: %d\r\nContent-Type: application/vscode-jsonrpc\r\n\r\n" % len(body),
        ):
            wire.send(header + body)
            reply = wire.receive()
            assert reply["id"] == "s" and "result" in reply, reply


def test_malformed_header_is_a_parse_error_and_closes_the_connection(socket_daemon: SocketDaemon) -> None:
    for header in (b"Content-Type: application/json\r\n\r\n{}", b"Content-Length: -4\r\n\r\n", b"garbage\r\n\r\n"):
        with RawConnection(socket_daemon.path) as wire:
            wire.initialize()
            wire.send(header)
            reply = wire.receive()
            error_of(reply, -32700)
            assert reply["id"] is None
            assert wire.closed_by_daemon()
    with RawConnection(socket_daemon.path) as wire:
        assert wire.initialize()


def test_oversized_body_is_skipped_and_answered_invalid_request(socket_daemon: SocketDaemon) -> None:
    with RawConnection(socket_daemon.path) as wire:
        limit = wire.initialize()["limits"]["maxMessageBytes"]
        oversized = b'{"jsonrpc":"2.0","id":9,"method":"server/status","params":{"pad":"' + b"x" * limit + b'"}}'
        wire.send(frame(oversized))
        reply = wire.receive()
        error_of(reply, -32600)
        assert reply["id"] is None
        assert "result" in wire.request(10, "server/status")


def test_batches(socket_daemon: SocketDaemon) -> None:
    with RawConnection(socket_daemon.path) as wire:
        max_batch = wire.initialize()["limits"]["maxBatchSize"]
        wire.send_message(
            [
                {"jsonrpc": "2.0", "id": 1, "method": "catalog/get", "params": {"itemIds": [1]}},
                {"jsonrpc": "2.0", "method": "initialized", "params": {}},
                {"jsonrpc": "2.0", "id": 2, "method": "no/such"},
            ]
        )
        replies = wire.receive()
        assert isinstance(replies, list) and sorted(reply["id"] for reply in replies) == [1, 2]
        by_id = {reply["id"]: reply for reply in replies}
        assert by_id[1]["result"]["items"][0]["itemId"] == 1
        error_of(by_id[2], -32601)

        wire.send_message([{"jsonrpc": "2.0", "method": "initialized", "params": {}}])
        wire.send_message([])
        reply = wire.receive()
        assert isinstance(reply, dict), f"a batch of notifications must get no reply, got {reply}"
        error_of(reply, -32600)

        wire.send_message([{"jsonrpc": "2.0", "id": 100 + n, "method": "server/status"} for n in range(max_batch + 1)])
        reply = wire.receive()
        for error in reply if isinstance(reply, list) else [reply]:
            error_of(error, -32600)
        assert "result" in wire.request(3, "server/status")


def test_notifications_before_initialize_are_dropped_and_exit_is_honoured(socket_daemon: SocketDaemon) -> None:
    with RawConnection(socket_daemon.path) as wire:
        wire.send_message({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}})
        error_of(wire.request(1, "server/status"), -32002)
        wire.send_message({"jsonrpc": "2.0", "method": "exit"})
        assert wire.closed_by_daemon()
