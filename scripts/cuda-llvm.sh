#!/usr/bin/env bash
# Provides LLVM 23.1 where burn's CUDA backend looks for it, for machines that cannot reach
# the host `tracel-llvm-bundler` downloads its bundle from (docs/backends.md).
#
#   bash scripts/cuda-llvm.sh        # then: cargo build --release -p gpfn-cli --features cuda
#
# burn-cuda 0.22.1 → cubecl-cuda 0.11.3 → cubecl-llvm (NVPTX), whose build script asks
# tracel-llvm-bundler 23.1.0-4 for LLVM. The bundler skips its download when
#
#   ${XDG_DATA_HOME:-~/.local/share}/tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed
#
# exists, and cubecl-llvm then asks that folder's `bin/llvm-config --link-static` for flags
# and libraries. PyPI's `mlc-llvm-static` (+ `-extra-targets`, which adds NVPTX) 23.1.1.post0
# ship the static LLVM 23.1 libraries and an `llvm-config`: this script installs them into a
# virtual environment (no dependencies), links their `static` folder to that path, writes
# the marker, and installs libzstd-dev (LLVM links -lzstd). Safe to run twice: each step
# checks what is there first and says what it did.
#
# With internet access none of this is needed: the bundler downloads its own LLVM.
set -euo pipefail

version=23.1.1.post0
venv="${GPFN_LLVM_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/gpfn/llvm-venv}"
target="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"
marker="$target/.tracel-llvm-installed"

say() { printf 'cuda-llvm: %s\n' "$*"; }

python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    say "created the virtual environment $venv"
fi
installed=$({ "$venv/bin/python" -m pip show mlc-llvm-static mlc-llvm-static-extra-targets 2>/dev/null || true; } \
    | awk '/^Version:/ {print $2}' | sort -u | tr '\n' ' ')
if [ "$installed" = "$version " ]; then
    say "mlc-llvm-static $version is already installed in $venv"
else
    "$venv/bin/python" -m pip install --quiet --no-deps \
        "mlc-llvm-static==$version" "mlc-llvm-static-extra-targets==$version"
    say "installed mlc-llvm-static and mlc-llvm-static-extra-targets $version into $venv"
fi

static=$("$venv/bin/python" -c 'import mlc_llvm_static, os; print(os.path.join(os.path.dirname(mlc_llvm_static.__file__), "static"))')
if [ ! -x "$static/bin/llvm-config" ]; then
    say "error: $static/bin/llvm-config is missing; the mlc-llvm-static package changed its layout"
    exit 1
fi
if ! "$static/bin/llvm-config" --targets-built | tr ' ' '\n' | grep -qx NVPTX; then
    say "error: the LLVM in $static has no NVPTX target (is mlc-llvm-static-extra-targets installed?)"
    exit 1
fi

mkdir -p "$(dirname "$target")"
if [ -L "$target" ] && [ "$(readlink -f "$target")" = "$(readlink -f "$static")" ]; then
    say "$target already points at $static"
elif [ -e "$target" ] && [ ! -L "$target" ]; then
    say "$target is a real folder (a downloaded bundle?); leaving it as it is"
else
    ln -sfn "$static" "$target"
    say "linked $target -> $static"
fi
if [ -e "$marker" ]; then
    say "marker $marker is there"
else
    touch "$marker"
    say "wrote the marker $marker"
fi

if [ -e /usr/include/zstd.h ]; then
    say "libzstd-dev is installed"
elif command -v apt-get >/dev/null; then
    apt-get install -y -qq libzstd-dev >/dev/null
    say "installed libzstd-dev"
else
    say "warning: install zstd's development files (LLVM links -lzstd)"
fi

say "LLVM $("$static/bin/llvm-config" --version) is ready; now: cargo build --release -p gpfn-cli --features cuda"
