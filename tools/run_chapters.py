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
import signal
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

SMOKE_PARAMETERS: dict[str, dict[str, object]] = {
    "01_fedavg": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "02_explicit_boosting": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "03_stealth_checks": {
        "preset_name": "smoke",
        "max_rounds": 2,
        "calibration_seeds": [0],
        "histogram_round": 2,
        "device": "cpu",
        "executor": "batched",  # the stacked path, beside the default (parallel on two cores)
    },
    "04_stealthy": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "05_alternating": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "06_estimation": {
        "preset_name": "smoke",
        "seeds": [0],
        "alternating_seeds": [0],
        "table_rounds": [2],
        "chapter_rounds": 2,
        "device": "cpu",
    },
    "07_robust_aggregation": {
        "preset_name": "smoke",
        "samples_per_agent": 100,
        "paper_rounds": 2,
        "matrix_rounds": 2,
        "boosts": [1.0, 10.0],
        "device": "cpu",
        "executor": "batched",  # the stacked path, beside the default (parallel on two cores)
    },
    "08_interpretability": {
        "preset_name": "smoke",
        "samples_per_agent": 200,
        "rounds": 2,
        "grid_images": 1,
        "similarity_images": 5,
        "device": "cpu",
    },
    "09_adult": {
        "rounds": 2,
        "stealth_rounds": 2,
        "histogram_round": 2,
        "samples_per_agent": 300,
        "data_root": None,  # the loader finds Adult (the tests give the adult_copy fixture's folder)
        "device": "cpu",
    },
    "10_scale": {
        "preset_name": "smoke",
        "many_rounds": 2,
        "samples_per_agent": 200,
        "target_rounds": 2,
        "dirichlet_alphas": [1.0],
        "dirichlet_rounds": 2,
        "device": "cpu",
        "executor": "batched",  # the stacked path, beside the default (parallel on two cores)
    },
    "11_flower": {"preset_name": "smoke", "rounds": 2, "samples_per_agent": 200, "device": "cpu"},
}
"""Each chapter's smoke-sized values for its ``parameters`` cell: what the tests run every chapter with
(papermill) and what ``scripts/gpu_check.py --dry-run`` runs the chapters with (as scripts). ``data_root``
``None`` lets the loader find UCI Adult where the set-up put it."""


def settings_of(parameters: dict[str, object]) -> list[str]:
    """``parameters`` as ``--set`` lines (``NAME=VALUE``, the value as Python code)."""
    return [f"{name}={value!r}" for name, value in parameters.items()]


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


def run_within(
    command: list[str], cwd: Path, environment: dict[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, its output captured; past ``timeout`` seconds it is stopped with every process it started
    (a pool of workers too), and :class:`subprocess.TimeoutExpired` is raised."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_chapter(
    notebook: Path, settings: list[str], environment: dict[str, str], timeout: float | None = None
) -> tuple[float, str | None]:
    """Run one chapter as a script; its wall time in seconds and, if it failed, the last line of its error.

    Raises:
        subprocess.TimeoutExpired: it ran past ``timeout`` seconds (and was stopped).
    """
    with tempfile.NamedTemporaryFile("w", suffix=f"_{notebook.stem}.py", delete=False) as script:
        script.write(chapter_script(notebook, settings))
    started = time.perf_counter()
    try:
        finished = run_within([sys.executable, script.name], notebook.parent, environment, timeout)
    finally:
        os.unlink(script.name)
    seconds = time.perf_counter() - started
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
