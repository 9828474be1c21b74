#!/usr/bin/env bash
# Set up this machine (see setup.sh) and run every test: fedutils' unit tests, the paper's claims
# on small real data, a smoke run of every chapter and of its course copies, and a warnings-as-errors
# build of the book. The tests run on every core (pytest-xdist, one worker more than there are cores, so
# that a core is never idle while a worker waits on a notebook's kernel; each worker on one torch thread;
# a chapter and its course copies in one worker, sharing its run cache).
#
#   bash scripts/test.sh            everything (CI runs this)
#   bash scripts/test.sh --quick    the unit tests and the claims that train for seconds: the inner loop
#   bash scripts/test.sh -k cli     extra arguments go to pytest
#
# $FEDUTILS_TEST_WORKERS sets the number of workers (default: the cores available plus one; 0 runs in this process).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
selection=()
if [ "${1:-}" = "--quick" ]; then
  shift
  selection=(-m "not book and not slow")
fi
workers="${FEDUTILS_TEST_WORKERS:-$("$VENV/bin/python" -c 'import os; print(len(os.sched_getaffinity(0)) + 1)')}"
"$VENV/bin/python" -m pytest -n "$workers" --dist loadgroup "${selection[@]}" "$@"
