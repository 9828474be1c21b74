"""Runs recorded once on a stated machine, for results too slow to recompute in every build.

Each JSON file holds a run's configuration and per-round records (the format
of :meth:`fedutils.results.RunResult.save`) plus how it was made: the command,
the machine and the date. Chapters show them beside what they compute live,
so a reader sees, for example, the paper preset's numbers without spending
an hour and a half of CPU time. Ship with the package, so they work in Colab.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from fedutils.errors import ConfigError
from fedutils.results import RunResult


def available() -> list[str]:
    """Names of the recorded runs."""
    return sorted(p.name.removesuffix(".json") for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def provenance(name: str) -> dict[str, Any]:
    """How a recorded run was made (command, machine, date, ...)."""
    return _read(name).get("provenance", {})


def recorded_run(name: str) -> RunResult:
    """The recorded run ``name`` (see :func:`available`)."""
    return RunResult.from_json_dict(_read(name))


def _read(name: str) -> dict[str, Any]:
    path = resources.files(__name__) / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"no recorded run named {name!r}; available: {', '.join(available()) or 'none'}.")
    return json.loads(path.read_text())
