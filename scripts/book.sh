#!/usr/bin/env bash
# Set up this machine (see setup.sh), then build the book with every chapter executed into
# _build/html, and report how long each chapter took. Chapters whose code did not change since
# the last build are not executed again (jupyter-cache); finished federated runs are reused from
# _build/fedutils-cache. Add --all to rebuild every page.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
export FEDUTILS_CACHE="${FEDUTILS_CACHE:-$ROOT/_build/fedutils-cache}"
REPORTS="$ROOT/_build/html/reports"
# A chapter that fails to execute leaves its traceback in $REPORTS/<page>.err.log, and nothing ever deletes
# it: start empty, so that what is there afterwards is about this build.
rm -rf "$REPORTS"
started=$(date +%s)
status=0
"$VENV/bin/jupyter-book" build "$ROOT" -W -n --keep-going "$@" || status=$?
"$VENV/bin/python" "$ROOT/scripts/execution_times.py" "$ROOT/_build/.jupyter_cache" || true
echo "book: built in $(( $(date +%s) - started )) s; open $ROOT/_build/html/index.html"
if [ "$status" != 0 ]; then
  echo "book: the build failed (exit status $status)" >&2
  # Where the full tracebacks are, then one line per failed chapter: its cell and the error.
  "$VENV/bin/python" "$ROOT/scripts/failed_chapters.py" --book "$ROOT" "$REPORTS" >&2 || true
fi
exit "$status"
