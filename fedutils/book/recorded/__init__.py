"""Runs recorded once on a stated machine, for results too slow to recompute in every build.

Each JSON file holds a run's configuration and per-round records (the format
of :meth:`fedutils.records.RunResult.save`) plus how it was made: the command,
the machine and the date. Chapters show them beside what they compute live,
so a reader sees, for example, the paper preset's numbers without spending
an hour and a half of CPU time. Ship with the package, so they work in Colab.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from fedutils.errors import ConfigError
from fedutils.records import RunResult

OBSERVED_PAPER_RUNS: dict[str, str] = {
    "no attack": "observed_none_paper_seed0",
    "explicit boosting": "observed_explicit_boosting_paper_seed0",
    "stealthy, loss at own model": "observed_stealthy_paper_seed0",
    "stealthy, loss at ŵ_G": "observed_stealthy_aimed_paper_seed0",
    "alternating, gradient at ŵ_G": "observed_alternating_aimed_paper_seed0",
    "data poisoning": "observed_data_poisoning_paper_seed0",
}
"""Chapters 3–5's label of a run → its recording on model A: seed 0, four rounds, the server's two checks
observing (Chapter 3's observe mode), made by ``scripts/record_runs.py`` (its ``observed_*`` recordings)."""


def available() -> list[str]:
    """Names of the recorded runs."""
    return sorted(p.name.removesuffix(".json") for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def provenance(name: str) -> dict[str, Any]:
    """How a recorded run was made (command, machine, date, ...)."""
    return _read(name).get("provenance", {})


def observed_paper_runs(*labels: str) -> dict[str, RunResult]:
    """Model A's runs observed by the server's checks (:data:`OBSERVED_PAPER_RUNS`), by the chapters' labels.

    With no ``labels``, every one that is recorded, in the table's order.
    """
    unknown = [label for label in labels if label not in OBSERVED_PAPER_RUNS]
    if unknown:
        raise ConfigError(
            f"no observed paper-preset run is labelled {unknown[0]!r}; choose from {', '.join(OBSERVED_PAPER_RUNS)}."
        )
    recorded = set(available())
    chosen = labels or [label for label, name in OBSERVED_PAPER_RUNS.items() if name in recorded]
    return {label: recorded_run(OBSERVED_PAPER_RUNS[label]) for label in chosen}


def recorded_run(name: str) -> RunResult:
    """The recorded run ``name`` (see :func:`available`)."""
    return RunResult.from_json_dict(_read(name))


def _read(name: str) -> dict[str, Any]:
    path = resources.files(__name__) / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"no recorded run named {name!r}; available: {', '.join(available()) or 'none'}.")
    return json.loads(path.read_text())
