#!/usr/bin/env bash
# Set up this machine (see setup.sh) and run every test: fedutils' unit tests, the paper's claims
# on small real data, a smoke run of every chapter and of its course copies, and a warnings-as-errors
# build of the book. The tests run on every core (pytest-xdist, one worker per core, pinned to it with one
# torch thread; the notebook kernels and Ray processes a worker starts inherit its core; a chapter and its
# course copies in one worker, sharing its run cache). On two cores, two workers ran the suite in 463 s
# and four in 517 s (2026-12-07; with 0.3.1's tests, two in 458 s and three in 502 s): more workers than
# cores only add contention.
#
#   bash scripts/test.sh            everything (CI runs this)
#   bash scripts/test.sh --quick    the unit tests and the claims that train for seconds: the inner loop
#   bash scripts/test.sh -k cli     extra arguments go to pytest
#
# $FEDUTILS_TEST_WORKERS sets the number of workers (default: the cores available; 0 runs in this process).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
selection=()
if [ "${1:-}" = "--quick" ]; then
  shift
  selection=(-m "not book and not slow")
fi
workers="${FEDUTILS_TEST_WORKERS:-$("$VENV/bin/python" -c 'import os; print(len(os.sched_getaffinity(0)))')}"
"$VENV/bin/python" -m pytest -n "$workers" --dist loadgroup "${selection[@]}" "$@"
