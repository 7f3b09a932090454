#!/usr/bin/env python3
"""Measures the conversational daemon: turn latency with SmolLM2 for the first and the
second turn of a session, with and without the per-session LM caches (the prefix caches' effect as
a ratio, measured in the same run), session/recommend throughput with 8 concurrent sessions, and
resident memory with everything loaded.

Each configuration runs its own daemon (`llmrec serve --socket`) on the same bundle and data:
  cached      the default: each session keeps its LM conversation and A-LLMRec prompt cached;
  uncached    --chat-cache-sessions 0: every turn runs its whole prompt (the conversation rebuilt
              from the session's remembered turns and answers, the A-LLMRec prompt from scratch).
Times are client-side wall clock (time to the first streamed piece, and to the reply), medians over
the sessions; the daemon's own figures (answer.firstTokenMs, timing.retrievalMs,
timing.languageModelRankingMs) too.

usage: python3 scripts/bench-conversation.py [--llmrec BIN] [--data DIR] [--bundle DIR] [--sessions N]
       [--seconds S] [--lm-threads N]
Defaults: the release binary, and the main job's MovieLens-100K data and demo bundle under $LLMREC_HOME.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "Clients/python"))
import llmrec_client  # noqa: E402

HOME = os.environ.get("LLMREC_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "llmrec")
TURNS = ["something lighter than the last one", "no more romance, and something for a ten-year-old",
         "maybe an animated one", "something with music in it"]
HISTORIES = [[50, 181, 100, 258, 294], [1, 7, 100, 121, 222], [56, 98, 174, 172, 204], [25, 27, 95, 99, 71],
             [11, 12, 22, 28, 64], [69, 79, 82, 89, 96], [117, 118, 121, 132, 135], [143, 151, 168, 173, 176]]


def start_daemon(args, extra):
    socket_path = tempfile.mktemp(prefix="llmrec-bench-", suffix=".sock", dir="/tmp")
    process = subprocess.Popen(
        [args.llmrec, "serve", "--socket", socket_path, "--data", args.data, "--bundle", args.bundle,
         "--lm-threads", str(args.lm_threads), *extra], stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not os.path.exists(socket_path):
        if process.poll() is not None or time.time() > deadline:
            sys.exit("bench-conversation: the daemon did not start")
        time.sleep(0.05)
    return process, socket_path


def latency(args, extra):
    process, socket_path = start_daemon(args, extra)
    handler = {"note": None}
    client = llmrec_client.connect(socket_path, timeout=600, on_notification=lambda m, p: handler["note"] and handler["note"](m, p))
    client.initialize(client_name="bench-conversation")
    results = {index: [] for index in range(len(TURNS))}
    for history in HISTORIES[: args.sessions]:
        session = client.request("session/open", {"history": history})["sessionId"]
        for index, text in enumerate(TURNS):
            started = time.perf_counter()
            first = [None]

            def on_note(method, params, started=started, first=first):
                if method == "session/answerDelta" and first[0] is None:
                    first[0] = time.perf_counter() - started

            handler["note"] = on_note
            reply = client.request("session/message", {"sessionId": session, "text": text, "k": 5})
            total = time.perf_counter() - started
            results[index].append({
                "ttft": first[0] if first[0] is not None else total, "total": total,
                "answerFirstTokenMs": reply["answer"]["firstTokenMs"], "rankingMs": reply["timing"]["languageModelRankingMs"],
                "retrievalMs": reply["timing"]["retrievalMs"],
                "reused": reply["answer"]["reusedTokens"], "rankingReused": reply["languageModelReusedTokens"],
                "promptTokens": reply["answer"]["promptTokens"]})
    status = client.request("model/status")
    client.shutdown()
    client.close()
    process.terminate()
    process.wait()
    return results, status


def throughput(args, lm_weight):
    process, socket_path = start_daemon(args, [])
    sessions = []
    for history in HISTORIES:
        client = llmrec_client.connect(socket_path, timeout=600)
        client.initialize(client_name="bench-conversation")
        session = client.request("session/open", {"history": history})["sessionId"]
        client.request("session/message", {"sessionId": session, "text": "something funny", "answer": False})
        sessions.append((client, session))
    counts = [0] * len(sessions)
    stop = time.perf_counter() + args.seconds

    def worker(index):
        client, session = sessions[index]
        while time.perf_counter() < stop:
            client.request("session/recommend", {"sessionId": session, "k": 10, "weights": {"languageModel": lm_weight}})
            counts[index] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(index,)) for index in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    status = sessions[0][0].request("model/status")
    for client, _ in sessions:
        client.close()
    process.terminate()
    process.wait()
    return sum(counts) / elapsed, sum(counts), status


def median(rows, key):
    return statistics.median(row[key] for row in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llmrec", default=os.path.join(REPO, ".build/release/llmrec"))
    parser.add_argument("--data", default=os.path.join(HOME, "data/ml-100k"))
    parser.add_argument("--bundle", default=os.path.join(HOME, "models/ml-100k"))
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--lm-threads", type=int, default=2)
    args = parser.parse_args()

    cached, status = latency(args, [])
    uncached, _ = latency(args, ["--chat-cache-sessions", "0"])
    print(f"## Turn latency, SmolLM2-135M Q4_1, {args.sessions} sessions, medians (seconds; daemon-side in ms)")
    print("| turn | caches | time to first piece | full reply | answer tokens run | answer tokens reused | answer first token (ms) | retrieval pass (ms) | LM ranking (ms) | ranking prompt reused |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for index in range(len(TURNS)):
        for name, rows in (("on", cached[index]), ("off", uncached[index])):
            print(f"| {index + 1} | {name} | {median(rows, 'ttft'):.3f} | {median(rows, 'total'):.3f} | {median(rows, 'promptTokens'):.0f} "
                  f"| {median(rows, 'reused'):.0f} "
                  f"| {median(rows, 'answerFirstTokenMs'):.0f} | {median(rows, 'retrievalMs'):.0f} | {median(rows, 'rankingMs'):.0f} "
                  f"| {median(rows, 'rankingReused'):.0f} |")
    def ratio(index, key):
        """Uncached over cached, or n/a where the daemon did not report the step (e.g. no LM ranking)."""
        on, off = median(cached[index], key), median(uncached[index], key)
        return f"x{off / on:.2f}" if on > 0 else "n/a"

    for index in range(1, len(TURNS)):
        print(f"turn {index + 1}, caches off/on: time to first piece {ratio(index, 'ttft')}, "
              f"answer's first token {ratio(index, 'answerFirstTokenMs')}, "
              f"LM ranking {ratio(index, 'rankingMs')} (above 1: the caches save time)")
    print()
    print(f"## session/recommend, 8 concurrent sessions (one connection each), {args.seconds:.0f} s")
    for weight, label in ((0.1, "blended with A-LLMRec LM ranking of the shortlist"), (0, "blended, no LM ranking")):
        rate, count, after = throughput(args, weight)
        print(f"- {label}: {rate:.2f} requests/s ({count} requests); resident memory {after['residentMemoryBytes'] / 2**20:.0f} MiB, "
              f"LM caches {after['chatCaches']['sessions']} sessions / {after['chatCaches']['bytes'] / 2**20:.0f} MiB")
    print()
    print(f"Resident memory after the latency run (SASRec, MiniLM, SmolLM2, stage 1+2, {args.sessions} cached sessions): "
          f"{status['residentMemoryBytes'] / 2**20:.0f} MiB; model bytes {status['modelBytes'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
