#!/usr/bin/env python3
"""Writes the small Amazon review fixtures that Tests/DatasetsTests reads.

Realistic records of both McAuley-lab releases (2018 "amazon_v2" and Amazon Reviews 2023), with the
things real dumps contain: unicode, HTML tags and entities, missing fields, exact duplicate lines,
repeated (user, item) pairs, malformed JSON, out-of-order and equal timestamps, blank lines, items
without metadata and metadata for items nobody reviewed. The tests assert exact counts, so edit the
records and the tests together.

Regenerate: python3 scripts/make-amazon-fixtures.py Tests/DatasetsTests/Fixtures
"""
import gzip
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/DatasetsTests/Fixtures"
os.makedirs(out, exist_ok=True)

DAY_MS = 86_400_000
T0 = 1_600_000_000_000  # 2020-09-13T12:26:40Z in ms


def review_2023(user, item, rating, ts_ms, text="Works as described.", asin=None):
    return {
        "rating": rating, "title": "Review title", "text": text, "images": [],
        "asin": asin or item, "parent_asin": item, "user_id": user, "timestamp": ts_ms,
        "helpful_vote": 0, "verified_purchase": True,
    }


reviews_2023 = [
    json.dumps(review_2023("AF_USER_A", "B0PARENT01", 5.0, T0 + 3 * DAY_MS, "Smells lovely — très bien ✨")),
    json.dumps(review_2023("AF_USER_A", "B0PARENT02", 4.0, T0 + 1 * DAY_MS)),  # earlier than the line above
    json.dumps(review_2023("AF_USER_A", "B0PARENT03", 2.0, T0 + 5 * DAY_MS)),  # low rating
    json.dumps(review_2023("AF_USER_B", "B0PARENT01", 5.0, T0 + 2 * DAY_MS)),
    json.dumps(review_2023("AF_USER_B", "B0PARENT02", 3.0, T0 + 2 * DAY_MS)),  # same timestamp as the line above
    json.dumps(review_2023("AF_USER_B", "B0PARENT04", 5.0, T0 + 4 * DAY_MS, asin="B0CHILD04X")),
    json.dumps(review_2023("AF_USER_B", "B0PARENT04", 5.0, T0 + 4 * DAY_MS, asin="B0CHILD04X")),  # exact duplicate
    "",  # blank line
    '{"rating": 5.0, "user_id": "AF_USER_C", "parent_asin": "B0PARENT01", "timestamp": ',  # truncated JSON
    json.dumps({"rating": 4.0, "parent_asin": "B0PARENT02", "timestamp": T0}),  # no user_id
    json.dumps(review_2023("AF_USER_C", "B0PARENT01", 4.0, T0 + 6 * DAY_MS)),
    json.dumps(review_2023("AF_USER_C", "B0PARENT03", 5.0, T0 + 7 * DAY_MS)),
    json.dumps(review_2023("AF_USER_C", "B0PARENT05", 5.0, 1_330_000_000_000)),  # 2012, no metadata
    json.dumps(review_2023("AF_USER_C", "B0PARENT01", 5.0, T0 + 8 * DAY_MS)),  # repeat of (C, 01), later
    "[1, 2, 3]",  # valid JSON, not an object
    json.dumps(review_2023("AF_USER_D", "B0PARENT02", 5.0, T0 + 9 * DAY_MS)),
]

meta_2023 = [
    json.dumps({
        "main_category": "All Beauty", "title": "Rose &amp; Oud <b>Eau de Parfum</b>\u00a0 50ml",
        "average_rating": 4.5, "rating_number": 120,
        "features": ["Long lasting"], "description": ["<p>A warm, woody scent.</p>", "Made in France&nbsp;&#8482;"],
        "price": 49.99, "images": [], "videos": [], "store": "Maison Exemple",
        "categories": [], "details": {"Item Form": "Spray", "Brand": "Maison Exemple"}, "parent_asin": "B0PARENT01",
        "bought_together": None,
    }),
    json.dumps({
        "main_category": "All Beauty", "title": "Gentle Cleanser 200 ml", "features": ["Fragrance free", "For dry skin"],
        "description": [], "price": None, "store": None, "categories": ["Beauty", "Skin Care"], "details": {},
        "parent_asin": "B0PARENT02",
    }),
    json.dumps({"main_category": "All Beauty", "title": "", "description": ["Only a description"], "parent_asin": "B0PARENT03"}),
    '{"title": "broken record", "parent_asin": "B0PARENT04"',  # malformed
    json.dumps({"title": "Old title", "description": ["old"], "parent_asin": "B0PARENT04"}),
    json.dumps({"title": "日本の化粧水 (Lotion)", "description": ["保湿 &lt;moist&gt;"], "parent_asin": "B0PARENT04"}),  # last wins
    json.dumps({"title": "Never reviewed", "description": ["nobody bought this"], "parent_asin": "B0UNSEEN99"}),
]

T0_S = 1_400_000_000  # 2014-05-13T16:53:20Z


def review_2018(user, asin, overall, seconds):
    return {
        "overall": overall, "verified": True, "reviewTime": "05 13, 2014", "reviewerID": user, "asin": asin,
        "reviewerName": "Jane Q.", "reviewText": "Great <br/> product", "summary": "Five Stars",
        "unixReviewTime": seconds,
    }


reviews_2018 = [
    json.dumps(review_2018("A1USERXYZ", "B00ITEM001", 5.0, T0_S + 200)),
    json.dumps(review_2018("A1USERXYZ", "B00ITEM002", 4.0, T0_S + 100)),
    json.dumps(review_2018("A1USERXYZ", "B00ITEM003", 5.0, T0_S + 300)),
    json.dumps(review_2018("A2USERABC", "B00ITEM001", 1.0, T0_S + 50)),
    json.dumps(review_2018("A2USERABC", "B00ITEM003", 5.0, T0_S + 60)),
    json.dumps({"overall": 5.0, "reviewerID": "A3USERBAD", "asin": "B00ITEM001"}),  # no unixReviewTime
    "not json at all",
    json.dumps(review_2018("A2USERABC", "B00ITEM004", 4.0, T0_S + 70)),
]

meta_2018 = [
    json.dumps({
        "category": ["Beauty", "Skin Care"], "description": ["Hydrating cream.", "", "Use daily &amp; nightly."],
        "title": "Hydra Cream <span class=\"a\">Deluxe</span>", "brand": "Acme", "price": "$12.99",
        "asin": "B00ITEM001", "main_cat": "Luxury Beauty",
    }),
    json.dumps({"category": [], "description": [], "title": "Plain Soap", "brand": "", "price": "", "asin": "B00ITEM002"}),
    json.dumps({"description": "A single string description", "title": "Caf\u00e9 Scrub", "asin": "B00ITEM003"}),
]

recbole_inter = [
    "user_id:token\titem_id:token\trating:float\ttimestamp:float",
    "u1\ti1\t4\t100", "u1\ti2\t5\t90", "u1\ti3\t3\t110",
    "u2\ti1\t5\t100", "u2\tnot-enough-fields",
    "u2\ti3\tfive\t120",  # rating not a number
    "u2\ti2\t2\t130",
]
recbole_item = [
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
    "i1\tToy Story\t1995\tAnimation Children's Comedy",
    "i2\tHeat\t1995\tAction Crime Thriller",
    "i3\t\t\t",
]


def write(name, lines, compress=False):
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if compress:
        # mtime=0 keeps the bytes stable across regenerations.
        with open(os.path.join(out, name), "wb") as handle:
            handle.write(gzip.compress(data, mtime=0))
    else:
        with open(os.path.join(out, name), "wb") as handle:
            handle.write(data)
    return data


write("amazon2023_reviews.jsonl", reviews_2023)
write("amazon2023_reviews.jsonl.gz", reviews_2023, compress=True)
write("amazon2023_meta.jsonl", meta_2023)
write("amazon2023_meta.jsonl.gz", meta_2023, compress=True)
write("amazon2018_reviews.json", reviews_2018)
write("amazon2018_meta.json.gz", meta_2018, compress=True)
write("tiny.inter", recbole_inter)
write("tiny.item", recbole_item)
# A gzip file cut in the middle: the reader must report it, not crash or stop silently.
full = gzip.compress(("\n".join(reviews_2023 * 40) + "\n").encode("utf-8"), mtime=0)
with open(os.path.join(out, "truncated.jsonl.gz"), "wb") as handle:
    handle.write(full[: len(full) // 2])
print(f"wrote fixtures to {out}", file=sys.stderr)
