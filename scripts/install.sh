#!/usr/bin/env bash
# Installs llmrec for the current user, like any command-line tool: the binary on PATH, bash, zsh and
# fish completions, man pages, the shell client (llmrec-rpc), the Python client (pip), the Neovim
# plugin's files, and a systemd user socket + service pair; writes a configuration file for the
# shared daemon when there is none: the main job's demo bundle when scripts/run-default.sh has made
# it, else MovieLens-100K with all-MiniLM-L6-v2 and SmolLM2-135M (fetched and prepared here, cached
# under $LLMREC_HOME).
#
# usage: scripts/install.sh [--prefix DIR] [--configuration release|debug] [--no-config] [--uninstall]
#   --prefix DIR        where to install (default ~/.local): DIR/bin, DIR/share/...
#   --configuration C   the build to install (default release; built here when missing)
#   --no-config         write no configuration file (and fetch nothing)
#   --uninstall         remove what an install with this prefix put there (configuration and
#                       journals stay)
# Nothing outside DIR is written except the Python client (pip --user for ~/.local, else
# pip --prefix DIR), the systemd user units ($XDG_CONFIG_HOME/systemd/user, only with the default
# prefix) and a new configuration file.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

prefix="$HOME/.local" configuration=release uninstall=0 write_config=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install: --prefix needs a directory" >&2; exit 2; }; prefix="$2"; shift 2 ;;
    --configuration) [ $# -ge 2 ] || { echo "install: --configuration needs release or debug" >&2; exit 2; }; configuration="$2"; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    --no-config) write_config=0; shift ;;
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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
manuals=$work/manuals
mkdir -p "$manuals"
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
# From a copy: pip's build leaves build/ and *.egg-info next to the sources it builds.
cp -R "$repo/Clients/python" "$work/python"
pip_install "$work/python"

config="$config_home/llmrec/config.json"
home=${LLMREC_HOME:-$HOME/.cache/llmrec}
if [ "$write_config" -eq 1 ] && [ ! -e "$config" ]; then
  mkdir -p "$(dirname "$config")"
  common='"itemNoun": "movie", "lmThreads": 2, "embeddingThreads": 2, "idleExit": 1800'
  if [ -f "$home/models/ml-100k/manifest.json" ] && [ -f "$home/data/ml-100k/dataset.json" ]; then
    printf '{"data": "%s", "bundle": "%s", %s}\n' "$home/data/ml-100k" "$home/models/ml-100k" "$common" >"$config"
    echo "install: wrote $config (the main job's MovieLens-100K and its bundle)"
  else
    echo "install: fetching MovieLens-100K, all-MiniLM-L6-v2 and SmolLM2-135M (cached in $home)..." >&2
    assets="$(scripts/fetch-assets.sh ml100k minilm smollm2)"
    if [ ! -f "$home/data/ml-100k/dataset.json" ]; then
      "$prefix/bin/llmrec" prepare --format recbole --reviews "$assets/ml-100k/ml-100k.inter" \
        --meta "$assets/ml-100k/ml-100k.item" --out "$home/data/ml-100k" --quiet >&2
    fi
    printf '{"data": "%s", "encoder": "%s", "lm": "%s", %s}\n' "$home/data/ml-100k" "$assets/minilm-l6-v2" \
      "$assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf" "$common" >"$config"
    echo "install: wrote $config (MovieLens-100K, all-MiniLM-L6-v2, SmolLM2-135M; scripts/run-default.sh trains a bundle)"
  fi
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
