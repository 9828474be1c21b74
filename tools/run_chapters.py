"""Execute the chapters as plain Python scripts, from an empty run cache, and print how long each took.

This is how the book's times on a GPU are measured: the machine that has
the GPU need not have Jupyter, papermill or a kernel. Each chapter's code
cells are written, in order, into one script; lines that are IPython magics
(``%pip …``, ``!…``; only the Colab install cell has them) become ``pass``,
and ``display`` prints when IPython is missing;
``--set NAME=VALUE`` lines are added after the ``parameters`` cell, as
papermill would inject them. Every chapter runs in its own Python process,
one after another, sharing one run cache that starts empty (as the book build
does, so a chapter may reuse a run an earlier chapter finished).

Examples:
  python scripts/run_chapters.py                                  # every chapter, book values, device "auto"
  python scripts/run_chapters.py --chapters 01 03 --set 'device="cuda"'
  python scripts/run_chapters.py --set 'preset_name="smoke"' --set max_rounds=2 --chapters 01

It prints one line per chapter as it finishes (time, or the error that
stopped it) and a total, and with ``--json PATH`` writes the same numbers
there after each chapter, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)
PARAMETERS_TAG = "parameters"
PRELUDE = """\
try:  # a kernel's display(); without IPython (the GPU machine has none), tables are printed
    from IPython.display import display
except ImportError:
    display = print
"""
"""Put before a chapter's cells: what a Jupyter kernel gives its code and a plain Python process lacks."""


def chapter_script(notebook: Path, settings: list[str]) -> str:
    """The code cells of ``notebook`` as one script, magics disabled and ``settings`` after the parameters cell."""
    cells = json.loads(notebook.read_text())["cells"]
    pieces = [PRELUDE]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        pieces.append(MAGIC.sub(r"\1pass", "".join(cell["source"])))
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            pieces.append("# injected by run_chapters.py\n" + "\n".join(settings))
    return "\n\n".join(pieces) + "\n"


def run_chapter(notebook: Path, settings: list[str], environment: dict[str, str]) -> tuple[float, str | None]:
    """Run one chapter as a script; its wall time in seconds and, if it failed, the last line of its error."""
    with tempfile.NamedTemporaryFile("w", suffix=f"_{notebook.stem}.py", delete=False) as script:
        script.write(chapter_script(notebook, settings))
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, script.name], cwd=notebook.parent, env=environment, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    os.unlink(script.name)
    if finished.returncode == 0:
        return seconds, None
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    return seconds, lines[-1] if lines else f"exit status {finished.returncode}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="*", metavar="NN", help="chapter numbers to run (default: all)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a parameters-cell value, as Python code"
    )
    parser.add_argument("--cache", metavar="DIR", help="the run cache to use (default: a new empty folder)")
    parser.add_argument("--json", metavar="PATH", help="also write the times to PATH as JSON, after each chapter")
    args = parser.parse_args(argv)
    for setting in args.set:
        if "=" not in setting:
            parser.error(f"--set takes NAME=VALUE, got {setting!r}")

    notebooks = sorted((ROOT / "chapters").glob("*.ipynb"))
    if args.chapters:
        notebooks = [nb for nb in notebooks if nb.name[:2] in args.chapters]
        if not notebooks:
            parser.error(f"no chapter numbered {', '.join(args.chapters)}")
    cache = args.cache or tempfile.mkdtemp(prefix="fedutils-cache-")
    environment = {**os.environ, "FEDUTILS_CACHE": cache, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    print(f"run cache: {cache}; settings: {', '.join(args.set) or 'the book values'}")
    times: dict[str, dict[str, object]] = {}
    for notebook in notebooks:
        seconds, error = run_chapter(notebook, args.set, environment)
        times[notebook.stem] = {"seconds": round(seconds, 1), "error": error}
        status = "ok" if error is None else f"FAILED: {error}"
        print(f"  {notebook.stem:<28} {seconds / 60:6.1f} min  {status}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(times, indent=1))
    total = sum(float(t["seconds"]) for t in times.values())  # type: ignore[arg-type]
    failed = [name for name, t in times.items() if t["error"] is not None]
    print(f"  {'all chapters':<28} {total / 60:6.1f} min  {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
