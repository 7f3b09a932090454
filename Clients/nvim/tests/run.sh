#!/usr/bin/env bash
# Headless end-to-end test of the LLMRec Neovim plugin against the real daemon.
#
# usage: Clients/nvim/tests/run.sh
#   LLMREC_BIN        the llmrec executable (default: .build/debug/llmrec in the repository)
#   LLMREC_TEST_DATA  a prepared dataset directory with at least 4 items; without it the Amazon 2023
#                     test fixture (Tests/DatasetsTests/Fixtures) is prepared into a temporary directory
#   LLMREC_TEST_ENCODER, LLMREC_TEST_LM
#                     the sentence encoder directory and the LM (GGUF) for the tests of streamed answers
#                     (default: MiniLM-L6-v2 and SmolLM2-135M-Instruct Q4_1 under
#                     ${LLMREC_HOME:-~/.cache/llmrec}/assets); those tests are skipped when they are missing
#   NVIM              the Neovim executable, 0.7 or newer (default: nvim on PATH)
# Runs tests/test_plugin.lua in `nvim --headless -u NONE` with the plugin on the runtimepath, then
# checks that quitting Neovim stopped the daemon (VimLeavePre).
# Exit status: 0 when every check passed, 2 when something is missing (nvim, llmrec, test data),
# another nonzero status when a check failed (124: Neovim ran past the 300 s limit).
set -euo pipefail

plugin_dir=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$plugin_dir/../.." && pwd)
nvim=${NVIM:-nvim}
export LLMREC_BIN=${LLMREC_BIN:-$repo/.build/debug/llmrec}

command -v "$nvim" >/dev/null || { echo "run.sh: $nvim not found (install Neovim 0.7+)" >&2; exit 2; }
command -v "$LLMREC_BIN" >/dev/null || { echo "run.sh: $LLMREC_BIN not found (build llmrec or set LLMREC_BIN)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "${LLMREC_TEST_DATA:-}" ]; then
  fixtures=$repo/Tests/DatasetsTests/Fixtures
  "$LLMREC_BIN" prepare --format amazon2023 \
    --reviews "$fixtures/amazon2023_reviews.jsonl" --meta "$fixtures/amazon2023_meta.jsonl" \
    --out "$tmp/data" --quiet >"$tmp/prepare.log" 2>&1 || { cat "$tmp/prepare.log" >&2; exit 2; }
  export LLMREC_TEST_DATA=$tmp/data
fi
assets=${LLMREC_HOME:-$HOME/.cache/llmrec}/assets
export LLMREC_TEST_ENCODER=${LLMREC_TEST_ENCODER:-$assets/minilm-l6-v2}
export LLMREC_TEST_LM=${LLMREC_TEST_LM:-$assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf}
export LLMREC_NVIM_DIR=$plugin_dir
export LLMREC_NVIM_PIDFILE=$tmp/daemon.pid
# The user's shared daemon, for the plugin's default mode: private runtime, configuration and state
# directories, so the test neither finds nor leaves a daemon of the user's.
export XDG_RUNTIME_DIR=$tmp/run XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/llmrec"
chmod 700 "$XDG_RUNTIME_DIR"
printf '{"data": "%s"}\n' "$LLMREC_TEST_DATA" >"$XDG_CONFIG_HOME/llmrec/config.json"
trap '"$LLMREC_BIN" stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

status=0
timeout 300 "$nvim" --headless -u NONE -i NONE -n \
  --cmd 'lua vim.opt.runtimepath:prepend(vim.env.LLMREC_NVIM_DIR)' \
  -c 'lua dofile(vim.env.LLMREC_NVIM_DIR .. "/tests/test_plugin.lua")' || status=$?

if [ -s "$LLMREC_NVIM_PIDFILE" ]; then
  pid=$(cat "$LLMREC_NVIM_PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    echo "not ok - the daemon (pid $pid) still runs after Neovim quit"
    kill "$pid"
    status=1
  else
    echo "ok - quitting Neovim stopped the daemon (VimLeavePre)"
  fi
elif [ "$status" -eq 0 ]; then
  echo "not ok - the test did not record the daemon's pid"
  status=1
fi
[ "$status" -eq 0 ] && echo "PASS" || echo "FAIL (status $status)"
exit "$status"
