"""Where the book's time goes, chapter by chapter and phase by phase, from one instrumented run of every chapter.

Each chapter runs as a plain script in its own process, one after another,
sharing one run cache that starts empty, as ``scripts/run_chapters.py`` times the
book; its main thread is sampled every 5 ms and each sample is put in a phase
(``benchmarks/book_phases.py``: honest training, the attacker's optimisation,
evaluation, the server's checks, aggregation, Captum, Adult, data loading and
partitioning, the run cache, imports, plotting, the Flower and Ray engines,
process start-up, and the rest). Figures are rendered to PNG as the notebook's
inline backend renders them.

``--root`` profiles another checkout with the same instrument (for example
main before a change, in a second worktree): its chapters are run with its
``fedutils`` first on the path. Compare two profiles with ``--compare``.

Examples:
  python benchmarks/book_profile.py --json after.json
  python benchmarks/book_profile.py --root ../before --json before.json
  python benchmarks/book_profile.py --chapters 01 03 --set 'preset_name="smoke"' --set max_rounds=2
  python benchmarks/book_profile.py --compare before.json after.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository's tools, from a clone

from book_phases import OTHER, PHASES, START_UP  # noqa: E402

from tools.run_chapters import chapter_script, run_within  # noqa: E402

PHASE_ORDER = [START_UP, *(name for name, _ in PHASES), OTHER]


def instrumented_script(notebook: Path, settings: list[str], phases_file: Path) -> str:
    """The chapter as a script (:func:`tools.run_chapters.chapter_script`) that starts the phase sampler first."""
    prelude = (
        f"import sys\nsys.path.insert(0, {str(HERE)!r})\nimport book_phases\nbook_phases.start({str(phases_file)!r})\n"
    )
    return prelude + chapter_script(notebook, settings)


def profile_chapter(
    notebook: Path, settings: list[str], environment: dict[str, str], outputs: Path | None = None
) -> dict[str, object]:
    """Run one chapter instrumented; its wall seconds, its phases' seconds and its error (or ``None``). With
    ``outputs``, what the chapter printed (its tables, as a script prints them) is kept there as ``<chapter>.txt``."""
    with tempfile.TemporaryDirectory(prefix="book-profile-") as folder:
        script, phases_file = Path(folder) / f"{notebook.stem}.py", Path(folder) / "phases.json"
        script.write_text(instrumented_script(notebook, settings, phases_file))
        launched = time.time()
        finished = run_within([sys.executable, str(script)], notebook.parent, environment)
        seconds = time.time() - launched
        phases = json.loads(phases_file.read_text()) if phases_file.exists() else {}
    phases[START_UP] = max(0.0, seconds - sum(phases.values()))
    if outputs is not None:
        outputs.mkdir(parents=True, exist_ok=True)
        (outputs / f"{notebook.stem}.txt").write_text(finished.stdout + "\n--- stderr ---\n" + finished.stderr)
    error = None
    if finished.returncode != 0:
        lines = [line for line in finished.stderr.splitlines() if line.strip()]
        error = lines[-1] if lines else f"exit status {finished.returncode}"
    return {"seconds": round(seconds, 2), "phases": {k: round(v, 2) for k, v in phases.items()}, "error": error}


def print_profile(profile: dict[str, dict]) -> None:
    """Seconds per chapter (rows) and phase (columns that are not zero everywhere)."""
    used = [p for p in PHASE_ORDER if any(c["phases"].get(p, 0) >= 0.05 for c in profile.values())]
    print("chapter".ljust(24) + "".join(f"{_short(p):>11}" for p in used) + f"{'total':>9}")
    totals = dict.fromkeys(used, 0.0)
    for name, chapter in profile.items():
        row = [chapter["phases"].get(p, 0.0) for p in used]
        for p, s in zip(used, row, strict=True):
            totals[p] += s
        print(name[:23].ljust(24) + "".join(f"{s:11.1f}" for s in row) + f"{chapter['seconds']:9.1f}")
    whole = sum(c["seconds"] for c in profile.values())
    print("all".ljust(24) + "".join(f"{totals[p]:11.1f}" for p in used) + f"{whole:9.1f}")
    print("\ncolumns: " + "; ".join(f"{_short(p)} = {p}" for p in used))


def compare(before: dict[str, dict], after: dict[str, dict]) -> None:
    """Per chapter and per phase: seconds before, after, and the factor."""
    for name in before:
        if name not in after:
            continue
        b, a = before[name], after[name]
        print(f"\n{name}: {b['seconds']:.1f} s → {a['seconds']:.1f} s ({b['seconds'] / a['seconds']:.2f}×)")
        for phase in PHASE_ORDER:
            sb, sa = b["phases"].get(phase, 0.0), a["phases"].get(phase, 0.0)
            if max(sb, sa) >= 0.5:
                factor = f"{sb / sa:6.2f}×" if sa > 0 else "   —"
                print(f"  {phase:<48} {sb:8.1f} {sa:8.1f} {factor}")
    common = [n for n in before if n in after]
    b_total = sum(before[n]["seconds"] for n in common)
    a_total = sum(after[n]["seconds"] for n in common)
    print(f"\nthese {len(common)} chapters: {b_total / 60:.1f} min → {a_total / 60:.1f} min ({b_total / a_total:.2f}×)")


def _short(phase: str) -> str:
    return phase.split(" (")[0].split("'")[0].replace("process ", "")[:10]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root", type=Path, default=HERE.parent, help="the checkout whose chapters run (default: this one)"
    )
    parser.add_argument("--chapters", nargs="*", metavar="NN", help="chapter numbers to run (default: all)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a parameters-cell value, as Python code"
    )
    parser.add_argument("--json", metavar="PATH", help="write the profile to PATH, after each chapter")
    parser.add_argument("--outputs", type=Path, metavar="DIR", help="keep what each chapter printed in DIR")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two profiles and stop")
    args = parser.parse_args(argv)
    if args.compare:
        compare(*(json.loads(Path(p).read_text()) for p in args.compare))
        return 0
    root = args.root.resolve()
    notebooks = sorted((root / "chapters").glob("*.ipynb"))
    if args.chapters:
        notebooks = [nb for nb in notebooks if nb.name[:2] in args.chapters]
        if not notebooks:
            parser.error(f"no chapter numbered {', '.join(args.chapters)} in {root / 'chapters'}")
    cache = tempfile.mkdtemp(prefix="fedutils-cache-")
    environment = {
        **os.environ,
        "FEDUTILS_CACHE": cache,
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    print(f"profiling {root} (run cache {cache}); settings: {', '.join(args.set) or 'the book values'}", flush=True)
    profile: dict[str, dict] = {}
    for notebook in notebooks:
        profile[notebook.stem] = chapter = profile_chapter(notebook, args.set, environment, args.outputs)
        status = "ok" if chapter["error"] is None else f"FAILED: {chapter['error']}"
        print(f"  {notebook.stem:<28} {chapter['seconds'] / 60:6.1f} min  {status}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(profile, indent=1))
    print()
    print_profile(profile)
    return 1 if any(c["error"] for c in profile.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
