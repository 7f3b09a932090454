#!/usr/bin/env python3
"""A short, readable exchange with a running daemon, for the main job (scripts/run-default.sh):
search the catalog, open a session with a few movies, reject one, ask for recommendations, show the
daemon's status. Uses the project's Python client (Clients/python).

usage: python3 scripts/demo-exchange.py SOCKET_PATH
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Clients/python"))
import llmrec_client  # noqa: E402
from llmrec_client import Event  # noqa: E402


def main() -> None:
    with llmrec_client.connect(sys.argv[1], timeout=30) as client:
        loaded = client.initialize(client_name="demo-exchange")["loaded"]
        print(f"> initialize: {loaded['catalogSize']} items, recommender {loaded['recommender']}, "
              f"encoder {loaded.get('encoder') or 'none (title search)'}")
        query = "an animated film about toys that come to life"
        hits = client.catalog_search(query, limit=3)["items"]
        print(f"> catalog/search {query!r}: " + ", ".join(f"{hit['item']['title']} ({hit['score']:.2f})" for hit in hits))
        liked = [client.catalog_search(title, limit=1)["items"][0]["item"] for title in ("Toy Story", "Aladdin", "Lion King")]
        print("> catalog/search: " + ", ".join(f"{item['title']} = {item['itemId']}" for item in liked))
        session = client.session_open(history=[item["itemId"] for item in liked])["sessionId"]
        first = client.session_recommend(session, k=3)["items"]
        print(f"> session/open {session}, session/recommend k=3:")
        for rank, item in enumerate(first, 1):
            print(f"    {rank}. {item['title']} (score {item['score']:.4f})")
        client.session_observe(session, [Event(first[0]["itemId"], "rejected")])
        print(f"> session/observe: rejected {first[0]['title']}; session/recommend k=3:")
        for rank, item in enumerate(client.session_recommend(session, k=3)["items"], 1):
            print(f"    {rank}. {item['title']} (score {item['score']:.4f})")
        status = client.server_status()
        print(f"> server/status: {status['sessions']} session(s), {status['requests']['served']} requests served, "
              f"p50 {status['latencyMs']['p50']:.3f} ms, resident memory {status['residentMemoryBytes'] / 2**20:.1f} MiB")
        client.session_close(session)


if __name__ == "__main__":
    main()
