#!/usr/bin/env python3
"""Independent reference for Tests/DatasetsTests/MovieLensPreparationTests: filter counts on the real
MovieLens-100K computed in plain Python (users, items, interactions after each filter), and the
time order of the first user with ties broken by file line.

usage: python3 scripts/reference-ml100k-filters.py [path/to/ml-100k.inter]
"""
import collections
import datetime
import os
import sys

home = os.environ.get("LLMREC_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmrec")
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(home, "assets/ml-100k/ml-100k.inter")
rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8")][1:]
rows = [(u, i, float(r), int(float(t))) for u, i, r, t in rows]


def stats(rs):
    return len({r[0] for r in rs}), len({r[1] for r in rs}), len(rs)


def single_pass(rs, min_user, min_item):
    users = collections.Counter(r[0] for r in rs)
    items = collections.Counter(r[1] for r in rs)
    return [r for r in rs if users[r[0]] >= min_user and items[r[1]] >= min_item]


def k_core(rs, min_user, min_item):
    while True:
        kept = single_pass(rs, min_user, min_item)
        if len(kept) == len(rs):
            return kept
        rs = kept


print("all", stats(rows))
print("single-pass 20/20", stats(single_pass(rows, 20, 20)))
print("iterative 20/20", stats(k_core(rows, 20, 20)))
print("iterative 50/30", stats(k_core(rows, 50, 30)))
print("rating >= 4", stats([r for r in rows if r[2] >= 4]))
print("year 1998", stats([r for r in rows if datetime.datetime.fromtimestamp(r[3], datetime.timezone.utc).year == 1998]))
first = rows[0][0]
sequence = sorted((t, line, i) for line, (u, i, _, t) in enumerate(rows) if u == first)
print("first user", first, len(sequence), [s[2] for s in sequence[:5]], [s[2] for s in sequence[-2:]])
