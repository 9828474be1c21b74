"""A researcher's ``pip install fedutils``: without any extra, every library module imports.

The extras (Flower and Ray, the course kit, the tests) and the book's own tooling are blocked in a fresh
interpreter — ``import flwr`` and the like then fail as on a plain install — and every module of
``fedutils`` is imported there, except the Flower adapter (``fedutils.flower``), which is the ``flower``
extra's and must say so.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRA_PACKAGE = "fedutils.flower"
"""The modules that need an extra (Flower's), and say so when it is missing."""

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
from importlib.abc import MetaPathFinder

BLOCKED = set(json.loads(sys.argv[1]))

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
import fedutils
failed, extra = {}, {}
for module in pkgutil.walk_packages(fedutils.__path__, "fedutils."):
    if module.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(module.name)
    except Exception as error:
        (extra if module.name.startswith("fedutils.flower.") else failed)[module.name] = repr(error)
print(json.dumps({"failed": failed, "extra": extra}))
"""


def _distribution(requirement: str) -> str:
    return re.split(r"[\\[<>=!~ ;@]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _blocked_modules() -> list[str]:
    """The top-level modules of every distribution that is not a core dependency of fedutils."""
    core = {_distribution(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = {_distribution(r) for group in PYPROJECT["project"]["optional-dependencies"].values() for r in group}
    book = {
        _distribution(line)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    wanted = (extras | book) - core
    return sorted(
        module
        for module, distributions in packages_distributions().items()
        if any(d.lower().replace("_", "-") in wanted for d in distributions)
    )


def test_a_plain_install_imports_every_library_module():
    blocked = _blocked_modules()
    assert {"flwr", "ray", "nbformat", "yaml", "papermill", "otter"} <= set(blocked)
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, json.dumps(blocked)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["failed"] == {}, f"modules that need more than a plain install: {outcome['failed']}"
    assert outcome["extra"], "the Flower adapter imported without Flower: is the blocker working?"
    assert all("flwr" in error or "ray" in error for error in outcome["extra"].values()), outcome["extra"]
