#!/usr/bin/env python3
"""Writes a large synthetic Amazon Reviews 2023 file (and its metadata) to measure `prepare`'s
peak memory on input much bigger than the kept data: long review texts, many lines, a bounded
number of users and items. Not a test fixture: the output is large and goes to a scratch folder.

usage: python3 scripts/make-large-reviews.py OUT_DIR [GIGABYTES=1.1] [USERS=200000] [ITEMS=50000]
then:  /usr/bin/time -v llmrec prepare --format amazon2023 --reviews OUT_DIR/reviews.jsonl \
           --meta OUT_DIR/meta.jsonl --out OUT_DIR/dataset --min-user-interactions 5 --min-item-interactions 5
"""
import json
import os
import random
import sys

out = sys.argv[1]
target_bytes = int(float(sys.argv[2] if len(sys.argv) > 2 else 1.1) * (1 << 30))
users = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
items = int(sys.argv[4]) if len(sys.argv) > 4 else 50_000
os.makedirs(out, exist_ok=True)
rng = random.Random(0)
words = ("lovely smell lasts all day skin feels soft after a week would buy again packaging arrived "
         "damaged but the product itself is great value for money not for sensitive skin").split()

written = 0
with open(os.path.join(out, "reviews.jsonl"), "w", encoding="utf-8") as handle:
    line_number = 0
    while written < target_bytes:
        user = int(rng.paretovariate(1.2)) % users
        item = int(rng.paretovariate(1.1)) % items
        text = " ".join(rng.choice(words) for _ in range(rng.randint(40, 250)))
        record = {
            "rating": float(rng.randint(1, 5)), "title": "Review", "text": text, "images": [],
            "asin": f"B{item:09d}", "parent_asin": f"B{item:09d}", "user_id": f"U{user:012d}",
            "timestamp": 1_500_000_000_000 + rng.randint(0, 200_000_000_000), "helpful_vote": 0,
            "verified_purchase": True,
        }
        line = json.dumps(record) + "\n"
        handle.write(line)
        written += len(line)
        line_number += 1
        if line_number % 200_000 == 0:
            print(f"{written / (1 << 30):.2f} GiB", file=sys.stderr)
with open(os.path.join(out, "meta.jsonl"), "w", encoding="utf-8") as handle:
    for item in range(items):
        handle.write(json.dumps({
            "parent_asin": f"B{item:09d}", "title": f"Product {item} &amp; friends",
            "description": [" ".join(rng.choice(words) for _ in range(rng.randint(50, 400)))],
            "features": [], "details": {"Brand": "Acme"}, "price": 9.99, "store": "Acme",
        }) + "\n")
print(f"wrote {written} bytes of reviews to {out}", file=sys.stderr)
