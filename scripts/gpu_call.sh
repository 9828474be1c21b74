#!/usr/bin/env bash
# The prepared GPU call (scripts/gpu_check.py), both halves:
#
#   bash scripts/gpu_call.sh prepare        # here, before the call: what the lent machine lacks, into gpu_carry/
#   bash scripts/gpu_call.sh run "$OUT"     # there, as the device tool's command (carry: gpu_carry)
#   bash scripts/gpu_call.sh keep DIR       # here, after the call: keep the files DIR brought back for the next
#
# The lent machine has PyTorch, NumPy, pandas and matplotlib but neither Captum, Jupyter, Flower nor Ray, and no
# network: "prepare" copies Fashion-MNIST's four files and UCI Adult's two into gpu_carry/data (37 MB) and
# downloads Captum's wheel (pure Python, 0.5 MB) into gpu_carry/wheels; gpu_carry/ is ignored by git. "run"
# installs the wheel, points fedutils at the data, puts back the files of the calls before (gpu_carry/out), and
# runs gpu_check.py with its budget into $OUT: at most six files come back. Chapter 11 is skipped there (no
# Flower or Ray; Ray's wheel is larger than a call carries).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARRY="$ROOT/gpu_carry"
PYTHON="${PYTHON:-python3}"

case "${1:-}" in
  prepare)
    mkdir -p "$CARRY/data/adult" "$CARRY/wheels" "$CARRY/out"
    fashion="${FEDUTILS_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
    cp "$fashion"/*-ubyte.gz "$CARRY/data/"
    cp "${FEDUTILS_ADULT:-$HOME/.cache/fedutils/data/adult}"/adult.{data,test} "$CARRY/data/adult/"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: captum -d "$CARRY/wheels"
    du -sh "$CARRY"
    ;;
  run)
    out="${2:?usage: gpu_call.sh run OUT}"
    "$PYTHON" -m pip install --quiet --no-deps --no-index "$CARRY"/wheels/*.whl
    cp -r "$CARRY/out/." "$out/" 2>/dev/null || true
    export FEDUTILS_DATA="$CARRY/data" MPLBACKEND=Agg PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT"
    "$PYTHON" "$ROOT/scripts/gpu_check.py" --out "$out" --work /tmp/fedutils-gpu-work "${@:3}"
    ;;
  keep)
    from="${2:?usage: gpu_call.sh keep DIR}"
    mkdir -p "$CARRY/out"
    cp "$from"/*.json "$from"/*.log "$CARRY/out/"
    ;;
  *)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac
