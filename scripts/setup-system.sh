#!/usr/bin/env bash
# Installs the Debian packages LLMRec builds against (libuv, jansson, OpenBLAS), Neovim for the
# editor plugin's test and systemd (its systemd-socket-activate, for the socket activation test; no
# running systemd is needed), when missing.
# Idempotent: does nothing when all are present. Uses sudo when not run as root.
set -euo pipefail
packages=(libuv1-dev libjansson-dev libopenblas-dev pkg-config unzip neovim systemd redis-server)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
