#!/usr/bin/env bash
# The main job on the embedded default: fetch the real assets, build llmrec (release), prepare
# MovieLens-100K and evaluate the baselines under the A-LLMRec protocol (20 candidates), the
# 100-negative protocol and full ranking, overall / cold / warm. Safe to re-run: assets are cached
# and the dataset is prepared again in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
assets="$(scripts/fetch-assets.sh ml100k)"
swift build -c release --product llmrec 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' >&2 || true
llmrec="$(swift build -c release --show-bin-path)/llmrec"
[ -x "$llmrec" ] || { echo "run-default: build failed" >&2; exit 1; }
home="${LLMREC_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/llmrec}"
data="$home/data/ml-100k"
"$llmrec" prepare --format recbole --reviews "$assets/ml-100k/ml-100k.inter" --meta "$assets/ml-100k/ml-100k.item" --out "$data"
"$llmrec" eval --data "$data" --model popularity --model cooccurrence \
  --protocol candidates20 --protocol candidates100 --protocol full --seed 7 --quiet
