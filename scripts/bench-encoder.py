#!/usr/bin/env python3
"""Embeds the same texts with sentence-transformers and with `llmrec embed` on the real
all-MiniLM-L6-v2 weights; compares sentences/s, peak memory and the embeddings themselves.

Workloads:
  catalog  every item of a prepared dataset's catalog.jsonl (default: MovieLens-100K in /tmp/ml,
           prepared with `llmrec prepare --format recbole` when missing): the titles (--field
           title), or A-LLMRec's SBERT text `"title, description"` with the literal quotes
           (--field text, as A-LLMRec's item text)
  long     --long-count deterministic descriptions of about --long-words words each, drawn from a
           fixed word list with a seeded RNG (300 words are more WordPiece tokens than the model's
           max_seq_length of 256, so every one is truncated)

sentence-transformers side: SentenceTransformer(MODEL, device="cpu"), torch.set_num_threads(T),
encode(texts, batch_size=--batch); seconds cover encode() only, not loading. It runs offline
(HF_HUB_OFFLINE=1), with OMP_NUM_THREADS and RAYON_NUM_THREADS (the Rust tokenizer's pool) also T.

LLMRec side:
  llmrec embed --model MODEL --catalog DATA --field F --out FILE --embedding-threads T [--precision P]
      timed by its own JSON summary, the last stdout line: {"items", "seconds",
      "sentencesPerSecond", "peakRSSBytes", ...}
  llmrec embed --model MODEL --texts-file FILE --embedding-threads T [--precision P]
      one {"text", "embedding"} object per stdout line; gives the embeddings compared for both
      workloads (for the catalog, of the same texts written one per line) and the long workload's
      timing: its own summary when it prints one as a JSON line on stderr, else the process's wall
      time and peak RSS, model loading included (the table says which)
  --precision bf16|f32 is passed on when given (default: the binary's own, bf16 where the CPU has
  AVX-512 BF16); the table names the precision the run reports.
If the binary has no `embed` command (or with --python-only) only sentence-transformers runs.

Each measurement runs in a fresh process, and this script imports neither torch nor numpy: on Linux
a child's ru_maxrss starts at its parent's RSS, so a large parent would inflate every peak.
Peak RSS of the Python side is its worker's ru_maxrss after encode(); ratios are ours / theirs.
The table prints the load average: with other work on the machine, torch's OpenMP threads wait on
each other at every operation, and T threads can be several times slower than one (seen with 2
threads on 2 busy CPUs: 34 titles/s against 390 with one thread), so compare runs on a quiet machine.

Needs sentence-transformers (with transformers, torch) for the Python side; the binary for ours.
usage: scripts/bench-encoder.py [--data DIR] [--model DIR] [--llmrec BIN] [--threads T] [--batch B] [--precision P]
                                [--field title|text] [--long-count N] [--long-words W] [--python-only]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LONG_SEED = 20240612
WORDS = """
the a an and but or of in on at with from into over after before during while because
film movie story director actor actress cast scene sequel drama comedy thriller romance mystery
war family city town village river road night morning winter summer friend brother sister mother
father daughter son stranger detective soldier doctor teacher writer singer king queen captain
finds loses meets follows leaves returns discovers remembers hides fights escapes travels learns
young old quiet lonely brave strange dark bright funny sad gentle bitter hopeful restless famous
secret past future truth promise journey letter house train ship island peace love fear
music song dance painting photograph memory dream voice silence storm fire snow rain light shadow
slowly suddenly finally together alone again never always almost only still perhaps
""".split()


def assets() -> Path:
    return Path(os.environ.get("LLMREC_HOME", Path.home() / ".cache" / "llmrec")) / "assets"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/ml"), help="prepared dataset directory")
    parser.add_argument("--model", type=Path, default=assets() / "minilm-l6-v2")
    parser.add_argument("--llmrec", type=Path, default=REPO / ".build" / "release" / "llmrec")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", choices=["bf16", "f32"], help="llmrec's --precision (default: its own)")
    parser.add_argument("--field", choices=["title", "text"], default="title")
    parser.add_argument("--long-count", type=int, default=500)
    parser.add_argument("--long-words", type=int, default=300)
    parser.add_argument("--python-only", action="store_true")
    parser.add_argument("--worker", nargs=2, type=Path, metavar=("TEXTS", "OUT"), help=argparse.SUPPRESS)
    return parser.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_texts(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1]


def write_texts(path: Path, texts: list[str]) -> None:
    assert not any("\n" in text for text in texts)
    path.write_text("".join(text + "\n" for text in texts))


def worker(arguments: argparse.Namespace, texts_file: Path, out: Path) -> None:
    """The sentence-transformers side, in its own process: prints one JSON summary line and writes
    one {"text", "embedding"} line per text to `out`."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(arguments.threads)
    texts = read_texts(texts_file)
    start = time.perf_counter()
    model = SentenceTransformer(str(arguments.model), device="cpu")
    loaded = time.perf_counter()
    embeddings = model.encode(texts, batch_size=arguments.batch, show_progress_bar=False, convert_to_numpy=True)
    seconds = time.perf_counter() - loaded
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with out.open("w") as file:
        for text, embedding in zip(texts, embeddings):
            file.write(json.dumps({"text": text, "embedding": embedding.tolist()}) + "\n")
    print(json.dumps({"items": len(texts), "seconds": seconds, "sentencesPerSecond": len(texts) / seconds,
                      "peakRSSBytes": peak, "loadSeconds": loaded - start}))


def run_measured(command: list[str], stdout: Path, env: dict | None = None) -> tuple[str, float, int]:
    """Runs `command` to completion with its stdout in the file `stdout` (kept out of this process's
    memory); returns its stderr, wall seconds and peak RSS in bytes (from wait4: that child's own
    ru_maxrss). Raises on a non-zero exit."""
    with stdout.open("w") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{stderr[-4000:]}")
    return stderr, wall, usage.ru_maxrss * 1024


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def read_embeddings(path: Path) -> list[list[float]]:
    return [json.loads(line)["embedding"] for line in path.read_text().split("\n") if line.strip()]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def ensure_dataset(arguments: argparse.Namespace) -> Path:
    catalog = arguments.data / "catalog.jsonl"
    if catalog.exists():
        return catalog
    movielens = assets() / "ml-100k"
    log(f"preparing MovieLens-100K into {arguments.data}")
    subprocess.run([str(arguments.llmrec), "prepare", "--format", "recbole",
                    "--reviews", str(movielens / "ml-100k.inter"), "--meta", str(movielens / "ml-100k.item"),
                    "--out", str(arguments.data), "--quiet"], check=True)
    return catalog


def catalog_texts(catalog: Path, field: str) -> list[str]:
    items = [json.loads(line) for line in catalog.read_text().split("\n") if line.strip()]
    if field == "title":
        return [item["title"] for item in items]
    return [f'"{item["title"]}, {item["description"]}"' for item in items]


def long_texts(count: int, words: int) -> list[str]:
    """Sentences of 6 to 20 words, capitalised, ending in a period, until about `words` words."""
    rng = random.Random(LONG_SEED)
    texts = []
    for _ in range(count):
        target, sentences, written = rng.randint(words - words // 10, words + words // 10), [], 0
        while written < target:
            length = min(rng.randint(6, 20), target - written)
            sentence = [rng.choice(WORDS) for _ in range(length)]
            sentences.append(" ".join(sentence).capitalize() + ".")
            written += length
        texts.append(" ".join(sentences))
    return texts


def has_embed(binary: Path) -> bool:
    if not binary.exists():
        return False
    result = subprocess.run([str(binary), "embed", "--help"], capture_output=True, text=True)
    return result.returncode == 0 and all(option in result.stdout for option in ("--texts-file", "--catalog", "--field"))


def python_side(arguments: argparse.Namespace, texts_file: Path, embeddings: Path, scratch: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": str(arguments.threads), "RAYON_NUM_THREADS": str(arguments.threads)}
    command = [sys.executable, str(Path(__file__).resolve()), "--model", str(arguments.model),
               "--threads", str(arguments.threads), "--batch", str(arguments.batch),
               "--worker", str(texts_file), str(embeddings)]
    summary = scratch / "worker.out"
    run_measured(command, summary, env)
    return last_json_line(summary.read_text())


def ours_catalog(arguments: argparse.Namespace, scratch: Path) -> dict:
    # A copy of the dataset without its embedding cache, so that every item is embedded (and the
    # user's own cache is left alone).
    data = scratch / "dataset"
    shutil.copytree(arguments.data, data, ignore=shutil.ignore_patterns("embeddings"))
    command = [str(arguments.llmrec), "embed", "--model", str(arguments.model), "--catalog", str(data),
               "--field", arguments.field, "--embedding-threads", str(arguments.threads)] + precision_option(arguments)
    stdout = scratch / "catalog.out"
    run_measured(command, stdout)
    summary = last_json_line(stdout.read_text())
    if summary is None or "sentencesPerSecond" not in summary:
        raise RuntimeError(f"{' '.join(command)} printed no JSON summary")
    return {**summary, "source": "own summary"}


def precision_option(arguments: argparse.Namespace) -> list[str]:
    return ["--precision", arguments.precision] if arguments.precision else []


def ours_texts(arguments: argparse.Namespace, texts_file: Path, embeddings: Path, items: int) -> dict:
    """Embeds `texts_file` into `embeddings`; returns the run's own stderr summary if it printed one,
    else the process's wall time and peak RSS."""
    command = [str(arguments.llmrec), "embed", "--model", str(arguments.model), "--texts-file", str(texts_file),
               "--embedding-threads", str(arguments.threads)] + precision_option(arguments)
    stderr, wall, peak = run_measured(command, embeddings)
    summary = last_json_line(stderr)
    if summary and "sentencesPerSecond" in summary:
        return {**summary, "source": "own summary (stderr)"}
    return {"items": items, "seconds": wall, "sentencesPerSecond": items / wall, "peakRSSBytes": peak,
            "source": "process wall time and RSS, loading included"}


def compare(theirs: Path, ours: Path) -> tuple[float, float]:
    """Mean and minimum cosine between the two sides' embeddings, line by line."""
    a, b = read_embeddings(theirs), read_embeddings(ours)
    if len(a) != len(b):
        raise RuntimeError(f"llmrec embed returned {len(b)} embeddings for {len(a)} texts")
    values = [cosine(x, y) for x, y in zip(a, b)]
    return sum(values) / len(values), min(values)


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MiB"


def print_table(arguments: argparse.Namespace, rows: list[dict], load: tuple[float, float]) -> None:
    print(f"\nall-MiniLM-L6-v2 ({arguments.model}), {arguments.threads} threads, batch {arguments.batch}; "
          f"1-minute load average {load[0]:.1f} before, {load[1]:.1f} after, on {os.cpu_count()} CPUs")
    print("| workload | texts | ST sent/s | ours sent/s | ours/ST | ours precision | ST peak RSS | ours peak RSS "
          "| mean cosine (min) | ours timed by |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        theirs, ours = row["theirs"], row.get("ours")
        if ours is None:
            our_rate = ratio = precision = our_rss = cosines = source = "-"
        else:
            our_rate = f"{ours['sentencesPerSecond']:.1f}"
            ratio = f"{ours['sentencesPerSecond'] / theirs['sentencesPerSecond']:.2f}"
            precision = ours.get("precision", "-")
            our_rss = mib(ours.get("peakRSSBytes"))
            cosines = f"{row['cosine'][0]:.6f} ({row['cosine'][1]:.6f})"
            source = ours["source"]
        print(f"| {row['name']} | {theirs['items']} | {theirs['sentencesPerSecond']:.1f} | {our_rate} | {ratio} | {precision} "
              f"| {mib(theirs['peakRSSBytes'])} | {our_rss} | {cosines} | {source} |")
    for row in rows:
        print(f"sentence-transformers {row['name']}: encode {row['theirs']['seconds']:.2f} s, "
              f"model load {row['theirs']['loadSeconds']:.2f} s")


def main() -> int:
    arguments = parse_arguments()
    if arguments.worker:
        worker(arguments, *arguments.worker)
        return 0

    ours_available = not arguments.python_only and has_embed(arguments.llmrec)
    if not arguments.python_only and not ours_available:
        log(f"{arguments.llmrec} has no `embed` command (with --texts-file, --catalog, --field): "
            "measuring the sentence-transformers side only")
    workloads = [
        (f"catalog {arguments.field}s", catalog_texts(ensure_dataset(arguments), arguments.field), True),
        (f"long ({arguments.long_words} words)", long_texts(arguments.long_count, arguments.long_words), False),
    ]
    rows, pending, load_before = [], [], os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as directory:
        scratch = Path(directory)
        # Every run first, every comparison after: reading embeddings here would grow this process,
        # and with it the peak RSS of the children started later.
        for index, (name, texts, is_catalog) in enumerate(workloads):
            texts_file, theirs, ours = (scratch / f"{kind}{index}" for kind in ("texts", "theirs", "ours"))
            write_texts(texts_file, texts)
            log(f"{name}: sentence-transformers on {len(texts)} texts")
            row = {"name": name, "theirs": python_side(arguments, texts_file, theirs, scratch)}
            if ours_available:
                log(f"{name}: llmrec embed on {len(texts)} texts")
                timed_texts = ours_texts(arguments, texts_file, ours, len(texts))
                row["ours"] = ours_catalog(arguments, scratch) if is_catalog else timed_texts
                pending.append((row, theirs, ours))
            rows.append(row)
        for row, theirs, ours in pending:
            row["cosine"] = compare(theirs, ours)
    load = (load_before, os.getloadavg()[0])
    print_table(arguments, rows, load)
    print(json.dumps({"threads": arguments.threads, "batch": arguments.batch, "loadAverage": load, "workloads": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
