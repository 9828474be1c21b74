#!/usr/bin/env bash
# Write the course notebooks into _build/course/<chapter>/: a student version of every chapter
# (solutions removed, Otter-Grader checks kept) and an instructor version (solutions, checks and an
# autograder.zip for `otter grade` / `otter run`). The chapters themselves are only read.
# Set up this machine first (see setup.sh). Extra arguments go to `python -m tools.course`
# (see its --help), e.g. `--tests-url-prefix URL` where the student test folders will be served,
# which Colab needs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
"$VENV/bin/python" -m tools.course "$ROOT"/chapters/*.ipynb --out "$ROOT/_build/course" "$@"
