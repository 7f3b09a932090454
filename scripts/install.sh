#!/usr/bin/env bash
# Installs llmrec for the current user, like any command-line tool: the binary on PATH, bash, zsh and
# fish completions, man pages, the shell client (llmrec-rpc), the Python client (pip), the Neovim
# plugin's files, and a systemd user socket + service pair; writes a configuration file for the
# shared daemon when there is none and the main job (scripts/run-default.sh) has made its data.
#
# usage: scripts/install.sh [--prefix DIR] [--configuration release|debug] [--uninstall]
#   --prefix DIR        where to install (default ~/.local): DIR/bin, DIR/share/...
#   --configuration C   the build to install (default release; built here when missing)
#   --uninstall         remove what an install with this prefix put there (configuration and
#                       journals stay)
# Nothing outside DIR is written except the Python client (pip --user for ~/.local, else
# pip --prefix DIR), the systemd user units ($XDG_CONFIG_HOME/systemd/user, only with the default
# prefix) and a new configuration file.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

prefix="$HOME/.local" configuration=release uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install: --prefix needs a directory" >&2; exit 2; }; prefix="$2"; shift 2 ;;
    --configuration) [ $# -ge 2 ] || { echo "install: --configuration needs release or debug" >&2; exit 2; }; configuration="$2"; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$0" >&2; exit 0 ;;
    *) echo "install: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$configuration" in release|debug) ;; *) echo "install: --configuration must be release or debug" >&2; exit 2 ;; esac
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

config_home=${XDG_CONFIG_HOME:-$HOME/.config}
units_dir=""
[ "$prefix" = "$HOME/.local" ] && units_dir="$config_home/systemd/user"
bash_completion="$prefix/share/bash-completion/completions/llmrec"
zsh_completion="$prefix/share/zsh/site-functions/_llmrec"
fish_completion="$prefix/share/fish/vendor_completions.d/llmrec.fish"
man_dir="$prefix/share/man/man1"
share="$prefix/share/llmrec"

pip_install() {
  if [ "$prefix" = "$HOME/.local" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --user "$@"
  else
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --prefix "$prefix" "$@"
  fi
}

if [ "$uninstall" -eq 1 ]; then
  rm -f "$prefix/bin/llmrec" "$prefix/bin/llmrec-rpc" "$bash_completion" "$zsh_completion" "$fish_completion"
  rm -f "$man_dir"/llmrec.1 "$man_dir"/llmrec.*.1
  rm -rf "$share"
  if [ -n "$units_dir" ]; then rm -f "$units_dir/llmrec.socket" "$units_dir/llmrec.service"; fi
  if [ "$prefix" = "$HOME/.local" ]; then
    python3 -m pip uninstall --quiet --yes llmrec-client >/dev/null 2>&1 || true
  else
    rm -rf "$prefix"/lib/python3*/site-packages/llmrec_client "$prefix"/lib/python3*/site-packages/llmrec_client-*.dist-info
  fi
  echo "install: removed llmrec from $prefix (the configuration in $config_home/llmrec and the journals stay)"
  exit 0
fi

scripts/setup-system.sh
echo "install: building llmrec ($configuration)..." >&2
swift build -c "$configuration" --product llmrec >&2
binary="$(swift build -c "$configuration" --show-bin-path)/llmrec"

mkdir -p "$prefix/bin" "$(dirname "$bash_completion")" "$(dirname "$zsh_completion")" "$(dirname "$fish_completion")" "$man_dir" "$share"
install -m 0755 "$binary" "$prefix/bin/llmrec"
install -m 0755 Clients/shell/llmrec-rpc.sh "$prefix/bin/llmrec-rpc"
"$prefix/bin/llmrec" --generate-completion-script bash >"$bash_completion"
"$prefix/bin/llmrec" --generate-completion-script zsh >"$zsh_completion"
"$prefix/bin/llmrec" --generate-completion-script fish >"$fish_completion"

echo "install: writing the man pages..." >&2
manuals=$(mktemp -d)
trap 'rm -rf "$manuals"' EXIT
swift package --allow-writing-to-directory "$manuals" generate-manual --multi-page --configuration "$configuration" \
  --output-directory "$manuals" >&2
find "$manuals" -name '*.1' -exec install -m 0644 {} "$man_dir/" \;

rm -rf "$share/nvim"
mkdir -p "$share/nvim"
cp -R Clients/nvim/lua Clients/nvim/plugin Clients/nvim/README.md "$share/nvim/"
mkdir -p "$share/systemd"
sed "s|@BINDIR@|$prefix/bin|g" Clients/systemd/llmrec.service >"$share/systemd/llmrec.service"
cp Clients/systemd/llmrec.socket "$share/systemd/llmrec.socket"
if [ -n "$units_dir" ]; then
  mkdir -p "$units_dir"
  cp "$share/systemd/llmrec.service" "$share/systemd/llmrec.socket" "$units_dir/"
fi

echo "install: installing the Python client (llmrec_client)..." >&2
pip_install "$repo/Clients/python"

config="$config_home/llmrec/config.json"
home=${LLMREC_HOME:-$HOME/.cache/llmrec}
if [ ! -e "$config" ] && [ -f "$home/data/ml-100k/dataset.json" ]; then
  mkdir -p "$(dirname "$config")"
  bundle_line=""
  [ -f "$home/models/ml-100k-allmrec-demo/manifest.json" ] && bundle_line="\"bundle\": \"$home/models/ml-100k-allmrec-demo\", "
  printf '{"data": "%s", %s"itemNoun": "movie", "lmThreads": 2, "threads": 2, "idleExit": 1800}\n' \
    "$home/data/ml-100k" "$bundle_line" >"$config"
  echo "install: wrote $config (the main job's MovieLens-100K and demo bundle)"
fi

echo "install: llmrec is in $prefix/bin"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "  add it to PATH: export PATH=\"$prefix/bin:\$PATH\"" ;; esac
echo "  completions: bash $bash_completion, zsh $zsh_completion (add its directory to fpath), fish $fish_completion"
echo "  man pages: $man_dir (man llmrec)"
echo "  Neovim: vim.opt.runtimepath:append(\"$share/nvim\") then require(\"llmrec\").setup({})"
if [ -n "$units_dir" ]; then
  echo "  systemd: systemctl --user enable --now llmrec.socket (units in $units_dir)"
else
  echo "  systemd units: $share/systemd (copy them to ~/.config/systemd/user)"
fi
if [ -e "$config" ]; then
  echo "  the shared daemon serves $config; try: llmrec chat --message \"something funny\""
else
  echo "  write $config ({\"data\": \"DIR\", ...}: llmrec serve --help lists the keys), or run scripts/run-default.sh first"
fi
