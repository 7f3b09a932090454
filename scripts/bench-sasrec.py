#!/usr/bin/env python3
"""Trains A-LLMRec's SASRec in PyTorch and in LLMRec on the same prepared dataset; compares speed,
memory and ranking metrics side by side.

PyTorch side: scripts/sasrec_torch.py (= pmixer/SASRec.pytorch @ 30c43cf) with A-LLMRec's settings:
d=50, 2 blocks, 1 head, maxlen 50, dropout 0.5, Adam(lr 1e-3, betas (0.9, 0.98)), batches of 128
users drawn with replacement among users with more than one training item, users // 128 steps per
epoch, BCE with one negative (outside the user's training items) per position. Batches are sampled
in the training loop (the original uses 3 sampler processes), so seconds/epoch includes sampling.
Each seed runs in a fresh process: peak RSS (getrusage maxrss) is that process's peak at the end of
training, as `llmrec train` reports its own.

Evaluation: every protocol ranks the target among the candidates of the cases that
`llmrec eval --write-cases` writes, so both sides score the same candidates. Metrics as the Swift
evaluator computes them: rank = number of other candidates scored >= the target (NaN counts
against), Hit@k = rank < k, NDCG@10 = 1/log2(rank+2) when rank < 10, MRR = 1/(rank+1). PyTorch
scores users in batches of up to 128 (user representation = log_feats at the last slot, scores =
dot products with the candidates' item embeddings); its users/s counts that scoring only, while
the Swift figure is cases / the "seconds" that `llmrec eval` reports.

LLMRec side, per seed:
  llmrec train sasrec --data DIR --out FILE --epochs N --seed S --batch-threads T --validate-every 0
      (stdout, last line: {"secondsPerEpoch": x, "epochs": n, "peakRSSBytes": y, ...}); without
      validation FILE holds the last epoch's weights, as the original's checkpoint and the PyTorch
      side do (with it, llmrec would keep the best epoch by validation NDCG@10)
  llmrec eval --data DIR --model sasrec:FILE --protocol ... --seed S --json --quiet
If the binary lacks `train sasrec` (or with --torch-only) only PyTorch runs; if it also lacks
`eval --write-cases`, candidates are drawn here with the same rules (negatives uniform, without
replacement, outside the user's train, valid and test items; full = every item not in the history)
but not the same draws as the Swift evaluator, and the script says so.

Needs torch and numpy (pip install torch numpy). The table's ratio is ours / PyTorch of the means.
usage: scripts/bench-sasrec.py --data DIR [--llmrec BIN] [--epochs N] [--threads T] [--seeds S ...]
                               [--torch-only]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

# torch is imported only in the per-seed processes: on Linux a child's ru_maxrss starts at its
# parent's RSS, so a parent that had loaded torch (about 500 MiB) would inflate the peak that
# `llmrec train` reports for itself.

PROTOCOLS = ["candidates20", "candidates100", "full"]
METRICS = ["hit@1", "hit@10", "ndcg@10", "mrr"]
BATCH_USERS = 128
MAXLEN = 50
EVAL_USERS = 128
EVAL_CANDIDATE_ROWS = 1 << 20  # candidates scored per evaluation batch, to bound memory on big catalogs


class Dataset:
    """A prepared dataset: per-user item lists in time order (index = user id, 0 unused)."""

    def __init__(self, directory: str):
        with open(os.path.join(directory, "dataset.json")) as file:
            info = json.load(file)
        self.users, self.items = info["users"], info["items"]
        self.train = self._read(os.path.join(directory, "train.tsv"))
        self.valid = self._read(os.path.join(directory, "valid.tsv"))
        self.test = self._read(os.path.join(directory, "test.tsv"))

    def _read(self, path: str) -> list[np.ndarray]:
        rows = np.loadtxt(path, dtype=np.int64, skiprows=1, usecols=(0, 1), ndmin=2)
        order = np.argsort(rows[:, 0], kind="stable")
        users, items = rows[order, 0], rows[order, 1]
        bounds = np.searchsorted(users, np.arange(self.users + 2))
        return [items[bounds[u]:bounds[u + 1]] for u in range(self.users + 1)]


class Sampler:
    """The original `sample()`: seq = train[:-1], pos = train[1:] (last MAXLEN, right-aligned),
    neg = an item outside the user's training items at every position with pos != 0."""

    def __init__(self, data: Dataset, rng: np.random.Generator):
        self.data, self.rng = data, rng
        self.eligible = np.array([u for u in range(1, data.users + 1) if len(data.train[u]) > 1])
        self.seen = [np.unique(items) for items in data.train]

    def batch(self, size: int):
        seq, pos, neg = (np.zeros((size, MAXLEN), dtype=np.int64) for _ in range(3))
        for row, user in enumerate(self.rng.choice(self.eligible, size)):
            items = self.data.train[user]
            n = min(len(items) - 1, MAXLEN)
            seq[row, MAXLEN - n:] = items[-n - 1:-1]
            pos[row, MAXLEN - n:] = items[-n:]
            neg[row, MAXLEN - n:] = self._negatives(user, n)
        return seq, pos, neg

    def _negatives(self, user: int, n: int) -> np.ndarray:
        draws = self.rng.integers(1, self.data.items + 1, n)
        bad = np.isin(draws, self.seen[user])
        while bad.any():
            draws[bad] = self.rng.integers(1, self.data.items + 1, int(bad.sum()))
            bad = np.isin(draws, self.seen[user])
        return draws


def read_cases(path: str) -> list[tuple[list[int], list[int]]]:
    """(history oldest first, candidates with the target first) per JSONL line."""
    with open(path) as file:
        return [(case["history"], case["candidates"]) for case in map(json.loads, file)]


def sample_cases(data: Dataset, protocol: str, seed: int) -> list[tuple[list[int], list[int]]]:
    """The Swift evaluator's rules for cases, with numpy's generator instead of its draws."""
    rng = np.random.default_rng(seed)
    everything = np.arange(1, data.items + 1)
    cases = []
    for user in range(1, data.users + 1):
        if len(data.test[user]) == 0:
            continue
        target = int(data.test[user][0])
        history = np.concatenate([data.train[user], data.valid[user]])
        others = np.setdiff1d(everything, np.append(history, target))
        if protocol != "full":
            wanted = min(int(protocol.removeprefix("candidates")) - 1, len(others))
            others = rng.choice(others, wanted, replace=False)
        cases.append((history.tolist(), [target] + others.tolist()))
    return cases


def rank_metrics(ranks: np.ndarray) -> dict:
    return {
        "hit@1": float(np.mean(ranks < 1)), "hit@10": float(np.mean(ranks < 10)),
        "ndcg@10": float(np.mean(np.where(ranks < 10, 1 / np.log2(ranks + 2), 0))),
        "mrr": float(np.mean(1 / (ranks + 1))),
    }


def torch_evaluate(model, cases: list[tuple[list[int], list[int]]]) -> dict:
    """Metrics and users/s of a trained model on `cases`."""
    import torch

    width = max(len(candidates) for _, candidates in cases)
    chunk = max(1, min(EVAL_USERS, EVAL_CANDIDATE_ROWS // width))
    ranks = np.empty(len(cases), dtype=np.int64)
    started = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(cases), chunk):
            part = cases[first:first + chunk]
            seqs = np.zeros((len(part), MAXLEN), dtype=np.int64)
            candidates = np.zeros((len(part), width), dtype=np.int64)
            counts = np.empty(len(part), dtype=np.int64)
            for row, (history, items) in enumerate(part):
                recent = history[-MAXLEN:]
                seqs[row, MAXLEN - len(recent):] = recent
                candidates[row, :len(items)] = items
                counts[row] = len(items)
            users = model.user_representation(torch.from_numpy(seqs))
            scores = torch.bmm(model.item_emb(torch.from_numpy(candidates)), users.unsqueeze(-1)).squeeze(-1)
            target, others = scores[:, :1], scores[:, 1:]
            real = torch.arange(width - 1) < torch.from_numpy(counts - 1).unsqueeze(1)
            ranks[first:first + len(part)] = (((others >= target) | others.isnan()) & real).sum(1).numpy()
    seconds = time.perf_counter() - started
    return {**rank_metrics(ranks), "usersPerSecond": len(cases) / seconds, "cases": len(cases)}


def torch_run(data_dir: str, seed: int, epochs: int, threads: int, case_files: dict) -> dict:
    """One seed in this (fresh) process: train, record speed and peak RSS, evaluate."""
    import torch

    from sasrec_torch import SASRec, init_like_original, make_args, sasrec_loss

    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = Dataset(data_dir)
    sampler = Sampler(data, rng)
    model = SASRec(data.users, data.items, make_args())
    init_like_original(model)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    steps = data.users // BATCH_USERS
    epoch_seconds = []
    for epoch in range(1, epochs + 1):
        started, total = time.perf_counter(), 0.0
        for _ in range(steps):
            seq, pos, neg = (torch.from_numpy(a) for a in sampler.batch(BATCH_USERS))
            _, pos_logits, neg_logits = model(seq, pos, neg)
            loss = sasrec_loss(pos_logits, neg_logits, pos)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        epoch_seconds.append(time.perf_counter() - started)
        if epoch == 1 or epoch == epochs or epoch % 10 == 0:
            print(f"  torch seed {seed} epoch {epoch}/{epochs}: loss {total / steps:.4f}, "
                  f"{epoch_seconds[-1]:.2f} s", file=sys.stderr)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    model.eval()
    cases = {protocol: read_cases(path) if path else sample_cases(data, protocol, seed)
             for protocol, path in case_files.items()}
    return {
        # str(): unpickling a TorchVersion would import torch into the parent.
        "torch": str(torch.__version__), "secondsPerEpoch": statistics.median(epoch_seconds), "peakRSSBytes": peak,
        "importRSSBytes": imported,
        "protocols": {protocol: torch_evaluate(model, protocol_cases) for protocol, protocol_cases in cases.items()},
    }


def succeeds(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True).returncode == 0
    except OSError:
        return False


def writes_cases(binary: str) -> bool:
    try:
        help_text = subprocess.run([binary, "eval", "--help"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "--write-cases" in help_text


def swift_write_cases(binary: str, data_dir: str, protocol: str, seed: int, path: str) -> None:
    subprocess.run([binary, "eval", "--data", data_dir, "--write-cases", path, "--protocol", protocol,
                    "--seed", str(seed), "--quiet"], check=True, stdout=subprocess.DEVNULL)


def swift_run(binary: str, data_dir: str, seed: int, epochs: int, threads: int, workdir: str) -> dict:
    model = os.path.join(workdir, f"sasrec-seed{seed}.bin")
    trained = subprocess.run(
        [binary, "train", "sasrec", "--data", data_dir, "--out", model, "--epochs", str(epochs),
         "--seed", str(seed), "--batch-threads", str(threads), "--validate-every", "0"],
        check=True, stdout=subprocess.PIPE, text=True)
    training = json.loads(trained.stdout.strip().splitlines()[-1])
    protocol_flags = [flag for protocol in PROTOCOLS for flag in ("--protocol", protocol)]
    evaluated = subprocess.run(
        [binary, "eval", "--data", data_dir, "--model", f"sasrec:{model}", *protocol_flags, "--seed", str(seed),
         "--json", "--quiet"], check=True, stdout=subprocess.PIPE, text=True)
    protocols = {}
    for report in (json.loads(line) for line in evaluated.stdout.splitlines() if line.strip()):
        metrics = {name: report["overall"][name] for name in METRICS}
        protocols[report["protocol"]] = {**metrics, "usersPerSecond": report["cases"] / report["seconds"],
                                         "cases": report["cases"]}
    return {"secondsPerEpoch": training["secondsPerEpoch"], "peakRSSBytes": training["peakRSSBytes"],
            "protocols": protocols}


def rows(runs: list[dict]) -> dict[str, list[float]]:
    """Label -> one value per seed."""
    table = {"seconds/epoch": [r["secondsPerEpoch"] for r in runs],
             "peak RSS (MiB)": [r["peakRSSBytes"] / 2**20 for r in runs]}
    for protocol in PROTOCOLS:
        table[f"{protocol} users/s"] = [r["protocols"][protocol]["usersPerSecond"] for r in runs]
        for metric in METRICS:
            table[f"{protocol} {metric}"] = [r["protocols"][protocol][metric] for r in runs]
    return table


def mean_std(values: list[float]) -> str:
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    digits = 4 if abs(mean) < 10 else 1
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def print_table(torch_runs: list[dict], swift_runs: list[dict]) -> None:
    torch_rows = rows(torch_runs)
    swift_rows = rows(swift_runs) if swift_runs else None
    header = f"{'':26}" + (f"{'ours (LLMRec)':>22}" if swift_rows else "")
    header += f"{'PyTorch ' + torch_runs[0]['torch']:>22}" + (f"{'ours/PyTorch':>14}" if swift_rows else "")
    print(header)
    for label, values in torch_rows.items():
        line = f"{label:26}"
        if swift_rows:
            line += f"{mean_std(swift_rows[label]):>22}"
        line += f"{mean_std(values):>22}"
        if swift_rows:
            denominator = statistics.mean(values)
            ratio = statistics.mean(swift_rows[label]) / denominator if denominator else math.nan
            line += f"{ratio:>14.3f}"
        print(line)
    imported = statistics.mean(r["importRSSBytes"] for r in torch_runs) / 2**20
    print(f"(PyTorch's peak RSS includes {imported:.0f} MiB reached by `import torch` alone, before any data.)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="prepared dataset directory (llmrec prepare)")
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--llmrec", default=os.path.join(repository, ".build", "release", "llmrec"),
                        help="llmrec binary (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--torch-only", action="store_true", help="do not train or evaluate with llmrec")
    args = parser.parse_args()

    with open(os.path.join(args.data, "dataset.json")) as file:
        info = json.load(file)
    if info["users"] // BATCH_USERS == 0:
        sys.exit(f"{args.data}: {info['users']} users, fewer than one batch of {BATCH_USERS}")
    run_swift = not args.torch_only
    if run_swift and not succeeds([args.llmrec, "train", "sasrec", "--help"]):
        print(f"NOTE: {args.llmrec} has no `train sasrec` command (or does not run): "
              "running the PyTorch side only, as with --torch-only.", file=sys.stderr)
        run_swift = False
    shared_cases = writes_cases(args.llmrec)
    if not shared_cases:
        print(f"NOTE: {args.llmrec} has no `eval --write-cases`: PyTorch candidates are drawn by this script "
              "with the evaluator's rules but not its draws, so metrics are not on the Swift evaluator's cases.",
              file=sys.stderr)
    print(f"SASRec on {args.data}: {info['users']} users, {info['items']} items; {args.epochs} epochs, "
          f"{args.threads} threads, seeds {' '.join(map(str, args.seeds))}", file=sys.stderr)

    torch_runs, swift_runs = [], []
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-sasrec-") as workdir:
        for seed in args.seeds:
            case_files = {protocol: None for protocol in PROTOCOLS}
            if shared_cases:
                for protocol in PROTOCOLS:
                    case_files[protocol] = os.path.join(workdir, f"cases-{protocol}-seed{seed}.jsonl")
                    swift_write_cases(args.llmrec, args.data, protocol, seed, case_files[protocol])
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                run = pool.submit(torch_run, args.data, seed, args.epochs, args.threads, case_files)
                torch_runs.append(run.result())
            if run_swift:
                swift_runs.append(swift_run(args.llmrec, args.data, seed, args.epochs, args.threads, workdir))
    print_table(torch_runs, swift_runs)


if __name__ == "__main__":
    main()
