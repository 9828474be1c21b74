"""Recorded runs shipped with the package."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from support import QUIET

from fedutils.book import recorded
from fedutils.book.recorded import OBSERVED_PAPER_RUNS, available, observed_paper_runs, provenance, recorded_run
from fedutils.cli import build_parser, config_from_args
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError
from fedutils.presets import preset
from fedutils.store import config_hash


def test_the_paper_fedavg_run_is_recorded_with_its_provenance():
    assert "fedavg_paper_seed0" in available()
    run = recorded_run("fedavg_paper_seed0")
    assert run.config == preset("paper", seed=0)
    assert run.rounds >= 1 and all(0 < r.val_accuracy <= 1 for r in run.records)
    assert [r.round for r in run.records] == list(range(1, run.rounds + 1))
    made = provenance("fedavg_paper_seed0")
    assert {"command", "machine", "date", "torch"} <= set(made)


@pytest.mark.parametrize("name", available())
def test_each_recorded_run_is_the_paper_preset_its_command_names(name):
    run = recorded_run(name)
    config = run.config
    command = provenance(name)["command"].split(" (")[0].removeprefix("python -m fedutils ").split()
    assert config_from_args(build_parser().parse_args(command)) == config
    changes = {
        "max_rounds": config.max_rounds,
        "stop_accuracy": config.stop_accuracy,
        "attack": config.attack,
        "aggregator": config.aggregator,
    }
    assert config == preset("paper", seed=config.seed, checks=config.checks, **changes)
    assert [r.round for r in run.records] == list(range(1, run.rounds + 1))
    assert all(sum(a.is_malicious for a in r.agents) == (config.attack is not None) for r in run.records)
    assert {"command", "machine", "date", "torch"} <= set(provenance(name))


@pytest.mark.parametrize("name", available())
def test_each_recorded_configuration_round_trips_byte_for_byte_and_keeps_its_cache_key(name):
    """The typed configuration of 0.3 writes exactly the plain form the file holds, so a recorded run (and any
    run cached with the same configuration) keeps its key."""
    stored = json.loads((resources.files(recorded) / f"{name}.json").read_text())["config"]
    typed = ExperimentConfig.from_dict(stored)
    assert json.dumps(typed.to_dict()) == json.dumps(stored)
    assert config_hash(typed.to_dict()) == config_hash(stored)


def test_the_observed_paper_runs_are_read_by_the_chapters_labels():
    recorded = observed_paper_runs()
    assert list(recorded) == [label for label, name in OBSERVED_PAPER_RUNS.items() if name in available()]
    for label, run in recorded.items():
        config = run.config
        assert config.seed == 0 and config.checks is not None and run.rounds == 4, label
        assert (config.attack is None) == (label == "no attack"), label
    with pytest.raises(ConfigError, match="no observed paper-preset run is labelled 'nope'; choose from no attack, "):
        observed_paper_runs("nope")


def test_unknown_recorded_run():
    with pytest.raises(ConfigError, match="no recorded run named 'nope'; available: "):
        recorded_run("nope")


def test_save_and_read_round_trip(tmp_path):
    from fedutils.runner import run_experiment

    result = run_experiment(preset("smoke", max_rounds=1), QUIET)
    result.save(tmp_path / "run.json")
    again = type(result).read(tmp_path / "run.json")
    assert again.records == result.records and again.config == result.config
