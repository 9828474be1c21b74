#!/usr/bin/env bash
# Set up this machine (see setup.sh) and run every test: fedutils' unit tests, the paper's claims
# on small real data, a smoke run of every chapter, and a warnings-as-errors build of the book.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k federation`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
"$VENV/bin/python" -m pytest "$@"
