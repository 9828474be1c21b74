"""The code passes the linter, and the house keeps its layers (``pyproject.toml`` configures both)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ["fedutils", "tests", "benchmarks", "scripts", "tools", "chapters", "appendix"]


def test_ruff_finds_nothing():
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *LINTED], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_code_is_formatted():
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *LINTED], cwd=ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_import_contracts_hold():
    """Each layer imports only those below it, the science never imports the book's code or matplotlib, and
    no two of fedutils' modules import each other in a cycle (``lint-imports``, import-linter)."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    completed = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in completed.stdout
