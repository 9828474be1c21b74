"""The paper's single attacker after f colluding attackers, two-phase rounds and stateful rules were added:
the same cache keys and the same records as fedutils 0.3.2 computed (recorded by
``golden/make_single_attacker_runs.py`` from 0.3.2's checkout, ``seconds`` left out)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fedutils import ExperimentConfig, RunOptions, run_experiment

GOLDEN = json.loads((Path(__file__).parent / "golden" / "single_attacker_runs_0.3.2.json").read_text())
TOLERANCE = 1e-4
"""Relative: another CPU's vector width may move the last digits of a float, not a decision."""


def _same(ours, theirs, where: str) -> None:
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), where
        for key in theirs:
            _same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float) and not isinstance(ours, bool):
        assert math.isclose(ours, theirs, rel_tol=TOLERANCE, abs_tol=1e-9), f"{where}: {ours} != {theirs}"
    else:
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_a_single_attacker_keeps_its_cache_key_and_its_records(name):
    recorded = GOLDEN[name]
    config = ExperimentConfig.from_dict(recorded["config"])
    assert config.to_dict() == recorded["config"]  # the cache key: no new option written when off
    assert config.malicious_agents == (config.num_agents - 1,)
    run = run_experiment(config, RunOptions(cache=False, progress=False, executor="sequential"))
    records = [record.to_dict() for record in run.records]
    for record in records:
        record.pop("seconds")
    _same(records, recorded["records"], name)
