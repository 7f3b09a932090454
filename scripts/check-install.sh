#!/usr/bin/env bash
# Checks scripts/install.sh end to end in a temporary prefix: the installed binary runs, the bash,
# zsh and fish completions and the man pages name the commands, the shell client and the Python
# client are importable from the prefix, the Neovim files and systemd units are there; then
# --uninstall leaves no file behind. Uses the debug build (swift build) so that it adds no release
# build to the test run.
# usage: scripts/check-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "check-install: $*" >&2; exit 1; }

XDG_CONFIG_HOME=$tmp/config LLMREC_HOME=$tmp/no-assets scripts/install.sh --prefix "$prefix" --configuration debug --no-config >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log" >&2; fail "install failed"; }
"$prefix/bin/llmrec" --help | grep -q "serve" || fail "the installed llmrec does not run"
for command in serve start status stop chat; do
  grep -q "$command" "$prefix/share/bash-completion/completions/llmrec" || fail "bash completion lacks $command"
  grep -q "$command" "$prefix/share/zsh/site-functions/_llmrec" || fail "zsh completion lacks $command"
  grep -q "$command" "$prefix/share/fish/vendor_completions.d/llmrec.fish" || fail "fish completion lacks $command"
  [ -s "$prefix/share/man/man1/llmrec.$command.1" ] || fail "no man page for llmrec $command"
done
grep -q "idle-exit" "$prefix/share/man/man1/llmrec.serve.1" || fail "the serve man page lacks --idle-exit"
[ -x "$prefix/bin/llmrec-rpc" ] || fail "no llmrec-rpc"
site=$(echo "$prefix"/lib/python3*/site-packages)
PYTHONPATH=$site python3 -c 'import llmrec_client, sys; sys.exit(0 if llmrec_client.__file__.startswith(sys.argv[1]) else 1)' "$site" \
  || fail "llmrec_client is not importable from $site"
[ -f "$prefix/share/llmrec/nvim/lua/llmrec/init.lua" ] || fail "no Neovim plugin files"
grep -q "ExecStart=$prefix/bin/llmrec serve" "$prefix/share/llmrec/systemd/llmrec.service" || fail "the service does not run the installed binary"
[ -f "$prefix/share/llmrec/systemd/llmrec.socket" ] || fail "no socket unit"

scripts/install.sh --prefix "$prefix" --uninstall >"$tmp/uninstall.log" 2>&1 || { cat "$tmp/uninstall.log" >&2; fail "uninstall failed"; }
left=$(find "$prefix" -type f | head -5)
[ -z "$left" ] || fail "uninstall left files behind: $left"
echo "check-install: install and uninstall in a temporary prefix: ok"
