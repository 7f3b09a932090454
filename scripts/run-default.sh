#!/usr/bin/env bash
# The main job on the embedded default: fetch the real assets, build llmrec (release), prepare
# MovieLens-100K, train SASRec with A-LLMRec's settings (about a minute; the training state is kept,
# so a second run starts in seconds), evaluate SASRec and the baselines under the A-LLMRec protocol
# (20 candidates), the 100-negative protocol and full ranking, overall / cold / warm, then serve
# SASRec from the daemon on a socket, with semantic catalog search (all-MiniLM-L6-v2; the catalog's
# embeddings are cached), and hold a short exchange with it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
assets="$(scripts/fetch-assets.sh ml100k minilm)"
swift build -c release --product llmrec 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' >&2 || true
llmrec="$(swift build -c release --show-bin-path)/llmrec"
[ -x "$llmrec" ] || { echo "run-default: build failed" >&2; exit 1; }
home="${LLMREC_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/llmrec}"
data="$home/data/ml-100k"
"$llmrec" prepare --format recbole --reviews "$assets/ml-100k/ml-100k.inter" --meta "$assets/ml-100k/ml-100k.item" --out "$data"
sasrec="$home/models/ml-100k-sasrec.safetensors"
mkdir -p "$home/models"
"$llmrec" train sasrec --data "$data" --out "$sasrec" --threads 2 >/dev/null
"$llmrec" eval --data "$data" --model "sasrec:$sasrec" --model popularity --model cooccurrence \
  --protocol candidates20 --protocol candidates100 --protocol full --seed 7 --quiet

echo
echo "## A short exchange with the daemon (llmrec serve --socket, Python client)"
socket="$(mktemp -u /tmp/llmrec-demo-XXXXXX.sock)"
"$llmrec" serve --socket "$socket" --data "$data" --recommender "sasrec:$sasrec" \
  --encoder "$assets/minilm-l6-v2" --threads 2 2>/dev/null &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 1200); do [ -S "$socket" ] && break; sleep 0.05; done
python3 scripts/demo-exchange.py "$socket"
kill -TERM "$daemon"
wait "$daemon"
trap - EXIT
