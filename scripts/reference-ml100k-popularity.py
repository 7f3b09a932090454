#!/usr/bin/env python3
"""Independent reference for Tests/TrainingTests/EvaluatorTests: the popularity baseline on real
MovieLens-100K under the full-ranking protocol, in plain Python.

Split: each user's ratings sorted by (timestamp, file line); last = test, second to last = valid.
Popularity = number of training-split interactions. Full ranking: candidates are all items not in
the user's history (train + valid), plus the target; rank = number of other candidates scoring >=
the target (ties against the target). Cold targets have <= 12 training interactions.

usage: python3 scripts/reference-ml100k-popularity.py [path/to/ml-100k.inter]
"""
import collections
import math
import os
import sys

home = os.environ.get("LLMREC_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmrec")
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(home, "assets/ml-100k/ml-100k.inter")
rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8")][1:]
by_user = collections.defaultdict(list)
for line, (user, item, _, timestamp) in enumerate(rows):
    by_user[user].append((float(timestamp), line, item))
items = sorted({r[1] for r in rows})
train, valid, test = {}, {}, {}
for user, events in by_user.items():
    sequence = [item for _, _, item in sorted(events)]
    train[user], valid[user], test[user] = sequence[:-2], sequence[-2], sequence[-1]
counts = collections.Counter(item for sequence in train.values() for item in sequence)

metrics = {"all": [], "cold": [], "warm": []}
for user in by_user:
    target = test[user]
    history = set(train[user]) | {valid[user]}
    candidates = [item for item in items if item not in history or item == target]
    rank = sum(1 for item in candidates if item != target and counts[item] >= counts[target])
    metrics["all"].append(rank)
    metrics["cold" if counts[target] <= 12 else "warm"].append(rank)

for group, ranks in metrics.items():
    n = len(ranks)
    hit10 = sum(r < 10 for r in ranks) / n
    ndcg10 = sum(1 / math.log2(r + 2) for r in ranks if r < 10) / n
    mrr = sum(1 / (r + 1) for r in ranks) / n
    print(f"{group}: cases={n} hit@1={sum(r < 1 for r in ranks) / n:.10f} hit@10={hit10:.10f} ndcg@10={ndcg10:.10f} mrr={mrr:.10f}")
