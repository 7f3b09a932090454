#!/usr/bin/env python3
"""Records the golden transcripts in Protocol/transcripts/ from the real daemon.

Each transcript is a list of messages to send; after each send the recorder reads every message the
daemon writes until it goes quiet for 0.3 s (or, after a send that expects no reply, until then) and
stores them as "expect" lines. Volatile values (times, latencies, memory, generated session ids,
version-specific counts) are replaced by "<any>". Review the diff by hand before committing:
the transcripts are the contract that Tests/ServerTests replays.

usage: python3 scripts/record-transcripts.py LLMREC_BIN [NAME ...]
Records every transcript, or only the NAMEs given (e.g. conversation). The dataset is the Amazon 2023
fixture (Tests/DatasetsTests/Fixtures), prepared into a scratch folder; the daemon runs without an
encoder or an LM, with the cooccurrence recommender.
"""
import json
import os
import select
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests/DatasetsTests/Fixtures")
VOLATILE = {"uptimeSeconds", "createdAt", "updatedAt", "latencyMs", "residentMemoryBytes", "requests", "lanes", "version",
            "timing", "loadSeconds"}


def rpc(id_, method, params=None):
    message = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def note(method, params=None):
    message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


INIT = rpc(1, "initialize", {"clientInfo": {"name": "transcript"}})

TRANSCRIPTS = {
    "lifecycle": [
        rpc(0, "server/status"),
        INIT,
        note("initialized", {}),
        rpc(2, "server/status"),
        rpc(3, "initialize", {}),
        note("no/such/notification", {}),
        rpc(4, "shutdown"),
        rpc(5, "server/status"),
        note("exit"),
    ],
    "sessions": [
        INIT,
        rpc(2, "session/open", {"sessionId": "shopper-1", "history": [1, 2]}),
        rpc(3, "session/observe", {"sessionId": "shopper-1", "events": [
            {"itemId": 4, "kind": "bought"}, {"itemId": 3, "kind": "rejected"}]}),
        rpc(4, "session/get", {"sessionId": "shopper-1"}),
        rpc(5, "session/recommend", {"sessionId": "shopper-1", "k": 3, "workDoneToken": "rec-5"}),
        rpc(6, "session/recommend", {"sessionId": "shopper-1", "k": 5, "excludeSeen": False, "candidates": [1, 2, 3, 5]}),
        rpc(7, "session/open", {"history": [2]}),
        rpc(8, "session/close", {"sessionId": "shopper-1"}),
        rpc(9, "session/get", {"sessionId": "shopper-1"}),
        rpc(10, "session/open", {"sessionId": "shopper-2"}),
        rpc(11, "session/open", {"sessionId": "shopper-2"}),
        rpc(12, "shutdown"),
        note("exit"),
    ],
    "catalog": [
        INIT,
        rpc(2, "catalog/get", {"itemIds": [4, 1]}),
        rpc(3, "catalog/get", {"itemIds": [1, 99, 98]}),
        rpc(4, "catalog/search", {"query": "gentle cleanser 200 ml"}),
        rpc(5, "catalog/search", {"query": "cleanser eau", "limit": 5}),
        rpc(6, "catalog/search", {"query": "zzz"}),
        rpc(7, "shutdown"),
        note("exit"),
    ],
    "errors": [
        INIT,
        rpc(2, "no/such/method"),
        rpc(3, "session/recommend", {"sessionId": "nobody"}),
        rpc(4, "session/open", {"history": [1, "two"]}),
        rpc(5, "session/open", {"sessionId": "bad id!"}),
        rpc(6, "session/recommend", {"sessionId": "x", "k": 0}),
        rpc(7, "session/observe", {"sessionId": "x", "events": [{"itemId": 1, "kind": "loved"}]}),
        rpc(8, "catalog/get", "not an object"),
        {"jsonrpc": "1.0", "id": 9, "method": "server/status"},
        {"jsonrpc": "2.0", "id": {"nested": True}, "method": "server/status"},
        [rpc(10, "server/status"), rpc(11, "no/such/method"), note("initialized"), {"id": 12}],
        [],
        [note("initialized"), note("initialized")],
        rpc(13, "shutdown"),
        note("exit"),
    ],
    "conversation": [
        INIT,
        rpc(2, "session/open", {"sessionId": "talker", "history": [1]}),
        rpc(3, "session/message", {"sessionId": "talker", "text": "Something for dry skin from Skin Care, but no perfume", "k": 3}),
        rpc(4, "session/message", {"sessionId": "talker", "text": "something different, not Beauty",
                                   "answer": False, "weights": {"collaborative": 2, "facet": 0.5}}),
        rpc(5, "session/recommend", {"sessionId": "talker", "k": 2}),
        rpc(6, "session/message", {"sessionId": "talker", "text": " \t "}),
        rpc(7, "session/message", {"sessionId": "talker", "text": "cheaper", "weights": {"price": 1}}),
        rpc(8, "session/message", {"sessionId": "talker", "text": "cheaper", "maxAnswerTokens": 513}),
        rpc(9, "session/message", {"sessionId": "nobody", "text": "hello"}),
        rpc(10, "model/status"),
        rpc(11, "catalog/add", {"items": [{"title": "Lavender Soap Bar", "description": "Handmade, with lavender oil"}]}),
        rpc(12, "catalog/add", {"items": [{"title": "Lavender Soap Bar", "color": "purple"}]}),
        rpc(13, "model/load", {"languageModel": "/nonexistent/llmrec/model.gguf"}),
        rpc(14, "model/load", {}),
        rpc(15, "shutdown"),
        note("exit"),
    ],
}


def frame(message):
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class Reader:
    def __init__(self, stream):
        self.stream = stream
        self.buffer = b""

    def messages(self, quiet=0.3):
        out = []
        while True:
            while b"\r\n\r\n" in self.buffer:
                header, _, rest = self.buffer.partition(b"\r\n\r\n")
                length = int(header.split(b":")[1])
                if len(rest) < length:
                    break
                out.append(json.loads(rest[:length]))
                self.buffer = rest[length:]
            ready, _, _ = select.select([self.stream], [], [], quiet)
            if not ready:
                return out
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                return out
            self.buffer += chunk


def scrub(value, key=None):
    if key in VOLATILE:
        return "<any>"
    if isinstance(value, dict):
        return {k: scrub(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if key == "sessionId" and isinstance(value, str) and value.startswith("s-"):
        return "<any>"
    if key == "dataset":
        return "<any>"
    return value


def record(binary, data, name, messages):
    process = subprocess.Popen([binary, "serve", "--stdio", "--data", data],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    reader = Reader(process.stdout)
    lines = []
    for message in messages:
        process.stdin.write(frame(message))
        process.stdin.flush()
        lines.append({"send": message})
        for reply in reader.messages():
            lines.append({"expect": scrub(reply)})
    process.stdin.close()
    process.wait(timeout=10)
    path = os.path.join(ROOT, "Protocol/transcripts", name + ".jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{path}: {len(lines)} lines, exit status {process.returncode}", file=sys.stderr)


def main():
    binary, names = sys.argv[1], sys.argv[2:] or list(TRANSCRIPTS)
    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "dataset")
        subprocess.run([binary, "prepare", "--format", "amazon2023",
                        "--reviews", os.path.join(FIXTURES, "amazon2023_reviews.jsonl"),
                        "--meta", os.path.join(FIXTURES, "amazon2023_meta.jsonl"), "--out", data, "--quiet"],
                       check=True, stderr=subprocess.DEVNULL)
        for name in names:
            record(binary, data, name, TRANSCRIPTS[name])


if __name__ == "__main__":
    main()
