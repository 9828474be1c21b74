"""The book's profiler: a stack's phase is its most specific marked frame, and two profiles compare per phase."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import book_phases  # noqa: E402
import book_profile  # noqa: E402


def _stack_through(*files: str):
    """The frame at the bottom of calls made, outermost first, from code compiled as each of ``files``."""
    namespace: dict = {"sys": sys}
    inner = "def call(rest):\n    return rest[0](rest[1:]) if rest else sys._getframe()\n"
    functions = []
    for file in files:
        exec(compile(inner, file, "exec"), namespace)
        functions.append(namespace["call"])
    return functions[0](functions[1:])


@pytest.mark.parametrize(
    ("files", "phase"),
    [
        (["/x/fedutils/simulation/federation.py", "/x/fedutils/simulation/evaluator.py"], "evaluation"),
        (
            ["/x/fedutils/simulation/execution.py", "/x/fedutils/attacks/stealthy.py", "/x/fedutils/training.py"],
            "attacker's optimisation",
        ),
        (
            [
                "/x/fedutils/simulation/federation.py",
                "/x/fedutils/checks/accuracy.py",
                "/x/fedutils/simulation/evaluator.py",
            ],
            "server checks",
        ),
        (["/x/fedutils/simulation/execution.py", "/x/fedutils/simulation/batched.py"], "honest training"),
        (["/x/site-packages/captum/attr/_core/lrp.py"], "Captum"),
        (["<frozen importlib._bootstrap>", "/x/fedutils/simulation/batched.py"], "imports"),
        (["/x/chapter.py"], book_phases.OTHER),
    ],
)
def test_a_stack_counts_for_its_most_specific_phase(files, phase):
    assert book_phases.phase_of(_stack_through(*files)) == phase


def test_two_profiles_compare_chapter_by_chapter_and_phase_by_phase(tmp_path, capsys):
    before = {"01_fedavg": {"seconds": 200.0, "phases": {"honest training": 180.0, "evaluation": 10.0}, "error": None}}
    after = {"01_fedavg": {"seconds": 100.0, "phases": {"honest training": 90.0, "evaluation": 5.0}, "error": None}}
    paths = []
    for name, profile in (("before", before), ("after", after)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(profile))
    assert book_profile.main(["--compare", *map(str, paths)]) == 0
    printed = capsys.readouterr().out
    assert "01_fedavg: 200.0 s → 100.0 s (2.00×)" in printed
    assert "honest training" in printed and "2.00×" in printed
    assert "these 1 chapters: 3.3 min → 1.7 min (2.00×)" in printed
