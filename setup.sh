#!/usr/bin/env bash
# Set up spatialwm in .venv/ at the repository root, then run the demo.
#
#   bash setup.sh              # install everything, build the native kernels, run the demo
#   bash setup.sh --no-demo    # install and build only
#
# Debian / Ubuntu, Python >= 3.10. System packages it needs (a C++ compiler for the native
# CPU rasterizer, the Python headers and venv module) are installed with apt-get when missing
# (as root, or through sudo). On a machine with no NVIDIA GPU the CPU build of torch 2.13.0 is
# installed; with one (nvidia-smi works) the default CUDA build, and gsplat's kernels are used.
# Environment: PYTHON (interpreter, default python3), SPATIALWM_TORCH_INDEX (a pip index URL
# for torch, e.g. https://download.pytorch.org/whl/cpu on a machine with internet access).
set -euo pipefail
cd "$(dirname "$0")"

run_demo=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) run_demo=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

PYTHON="${PYTHON:-python3}"
say() { printf '\n==> %s\n' "$*"; }

# ---- 1. system packages -------------------------------------------------------------------
say "system packages"
if ! command -v "$PYTHON" >/dev/null; then
  echo "setup.sh: $PYTHON not found; install Python >= 3.10 (Debian: apt-get install python3)" >&2
  exit 1
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "setup.sh: Python >= 3.10 is required, $PYTHON is $("$PYTHON" --version 2>&1)" >&2; exit 1; }

packages=()
command -v g++ >/dev/null || packages+=(g++)
# shared libraries open3d-cpu links against (a bare Debian lacks some of them)
if command -v dpkg-query >/dev/null; then
  for lib in libgomp1 libgl1 libegl1 libx11-6 libudev1; do  # (open3d-cpu; full open3d also wants libusb-1.0-0)
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "ok installed" || packages+=("$lib")
  done
fi
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
# a headless browser for the viewer's tests (playwright drives it; it downloads none here)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || packages+=(chromium)
"$PYTHON" - <<'EOF' || packages+=(python3-dev)
import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))
EOF
if ((${#packages[@]})); then
  echo "missing: ${packages[*]}"
  if ! command -v apt-get >/dev/null; then
    echo "setup.sh: install ${packages[*]} (or your system's equivalents) and run again" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || {
      echo "setup.sh: run as root or install sudo, or: apt-get install ${packages[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}"
else
  echo "all present (g++, Python headers, venv, open3d's shared libraries, chromium)"
fi

# ---- 2. virtual environment and Python packages ---------------------------------------------
say "virtual environment .venv/"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

if .venv/bin/python -c 'import torch' 2>/dev/null; then
  echo "torch $(.venv/bin/python -c 'import torch; print(torch.__version__)') already installed"
else
  index=()
  [ -n "${SPATIALWM_TORCH_INDEX:-}" ] && index=(--index-url "$SPATIALWM_TORCH_INDEX")
  if command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1; then
    echo "NVIDIA GPU found: installing a CUDA build of torch"
    "${pip[@]}" install "${index[@]}" "torch>=2.4"
  else
    echo "no NVIDIA GPU: installing the CPU build of torch 2.13.0"
    "${pip[@]}" install "${index[@]}" "torch==2.13.0"
  fi
fi
"${pip[@]}" install -e ".[dev]"

# ---- 3. native kernels ------------------------------------------------------------------------
say "building the native CPU rasterizer (once; cached by torch)"
.venv/bin/python -c 'from spatialwm.render._build import load_native; load_native(); print("ok")'

# ---- 4. demo ----------------------------------------------------------------------------------
if ((run_demo)); then
  # The demo ends by serving the viewer (until Ctrl+C) when run from a terminal; never in CI
  # or without one.
  demo_args=()
  if [ -n "${CI:-}" ] || ! [ -t 0 ] || ! [ -t 1 ]; then demo_args=(--no-view); fi
  say "demo: .venv/bin/spatialwm demo ${demo_args[*]}"
  .venv/bin/spatialwm demo "${demo_args[@]}"
fi
echo
echo "Done. The CLI is .venv/bin/spatialwm; tests: .venv/bin/python -m pytest -q"
