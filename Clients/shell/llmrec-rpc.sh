#!/usr/bin/env bash
# Sends JSON-RPC messages to an LLMRec daemon and prints its replies, one JSON document per line.
#
# usage: llmrec-rpc.sh [--socket PATH | --data DIR] [--init] [--timeout SEC] [MESSAGE...]
#   (neither)           talk to the user's shared daemon ($XDG_RUNTIME_DIR/llmrec/llmrec.sock),
#                       starting it with `llmrec start` when none answers
#   -s, --socket PATH   talk to a daemon started with `llmrec serve --socket PATH`
#   -d, --data DIR      spawn `$LLMREC_BIN serve --stdio --data DIR` (default LLMREC_BIN: llmrec on PATH)
#                       for these messages only; it exits when they are answered
#   -i, --init          send `initialize` and `initialized` first (the initialize reply is not printed)
#   -t, --timeout SEC   stop waiting for replies after SEC seconds (default 30)
# MESSAGE is one JSON-RPC message or batch; without any, stdin is read, one message per line.
# Every message is framed with Content-Length; the script prints every message the daemon sends
# (replies and $/progress notifications) until each request has been answered.
# Exit status: 0 all answered, 1 the daemon closed the connection or the timeout passed first, 2 usage.
set -euo pipefail

usage() { sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$0" >&2; exit 2; }

socket_path="" data_dir="" init=0 timeout=30
while [ $# -gt 0 ]; do
  case "$1" in
    -s|--socket) [ $# -ge 2 ] || usage; socket_path="$2"; shift 2 ;;
    -d|--data) [ $# -ge 2 ] || usage; data_dir="$2"; shift 2 ;;
    -i|--init) init=1; shift ;;
    -t|--timeout) [ $# -ge 2 ] || usage; timeout="$2"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "llmrec-rpc: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
if [ -n "$socket_path" ] && [ -n "$data_dir" ]; then
  echo "llmrec-rpc: give at most one of --socket PATH or --data DIR" >&2
  usage
fi
if [ -z "$socket_path" ] && [ -z "$data_dir" ]; then
  # The shared daemon: `llmrec start` prints its socket, starting it first when none answers.
  socket_path="$("${LLMREC_BIN:-llmrec}" start)" || exit 1
fi
command -v python3 >/dev/null || { echo "llmrec-rpc: python3 is required" >&2; exit 2; }

if [ $# -eq 0 ]; then
  messages=()
  while IFS= read -r line; do
    [ -n "${line//[[:space:]]/}" ] && messages+=("$line")
  done
  set -- "${messages[@]+"${messages[@]}"}"
fi

if [ -n "$socket_path" ]; then
  target=(socket "$socket_path")
else
  target=(stdio "${LLMREC_BIN:-llmrec}" "$data_dir")
fi

exec python3 -c '
import json, os, select, socket, subprocess, sys, time

init, timeout, mode, *rest = sys.argv[1:]
if mode == "socket":
    (path,), texts = rest[:1], rest[1:]
else:
    (binary, data), texts = rest[:2], rest[2:]

def fail(message, status):
    print(f"llmrec-rpc: {message}", file=sys.stderr)
    sys.exit(status)

def frame(message):
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body

def is_request(message):
    if isinstance(message, list):
        return any(is_request(item) for item in message)
    return isinstance(message, dict) and "id" in message

messages = []
for text in texts:
    try:
        messages.append(json.loads(text))
    except json.JSONDecodeError as error:
        fail(f"not JSON ({error}): {text}", 2)
if init == "1":
    messages[:0] = [
        {"jsonrpc": "2.0", "id": "llmrec-rpc-init", "method": "initialize",
         "params": {"processId": os.getpid(), "clientInfo": {"name": "llmrec-rpc.sh"}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
    ]
awaited = sum(map(is_request, messages))
payload = b"".join(map(frame, messages))

if mode == "socket":
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError as error:
        fail(f"cannot connect to {path}: {error}", 1)
    connection.sendall(payload)
    in_fd, finish = connection.fileno(), connection.close
else:
    try:
        daemon = subprocess.Popen([binary, "serve", "--stdio", "--data", data], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    except OSError as error:
        fail(f"cannot start {binary}: {error}", 1)
    daemon.stdin.write(payload)
    daemon.stdin.flush()
    in_fd = daemon.stdout.fileno()
    def finish():
        daemon.stdin.close()
        daemon.wait()

buffer = b""
deadline = time.monotonic() + float(timeout)
while awaited > 0:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([in_fd], [], [], left)[0]:
        finish()
        fail(f"timed out with {awaited} request(s) unanswered", 1)
    chunk = os.read(in_fd, 65536)
    if not chunk:
        finish()
        fail(f"the daemon closed the connection with {awaited} request(s) unanswered", 1)
    buffer += chunk
    while (end := buffer.find(b"\r\n\r\n")) >= 0:
        headers = dict(
            line.split(":", 1) for line in buffer[:end].decode("ascii").lower().split("\r\n") if ":" in line
        )
        length = int(headers["content-length"])
        if len(buffer) < end + 4 + length:
            break
        reply = json.loads(buffer[end + 4 : end + 4 + length])
        buffer = buffer[end + 4 + length :]
        if isinstance(reply, list) or "method" not in reply:
            awaited -= 1
        if not (isinstance(reply, dict) and reply.get("id") == "llmrec-rpc-init" and "result" in reply):
            print(json.dumps(reply, ensure_ascii=False, separators=(",", ":")), flush=True)
finish()
' "$init" "$timeout" "${target[@]}" "$@"
