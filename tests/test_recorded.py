"""Recorded runs shipped with the package."""

from __future__ import annotations

import pytest

from fedutils.cli import build_parser, config_from_args
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError
from fedutils.presets import preset
from fedutils.recorded import OBSERVED_PAPER_RUNS, available, observed_paper_runs, provenance, recorded_run


def test_the_paper_fedavg_run_is_recorded_with_its_provenance():
    assert "fedavg_paper_seed0" in available()
    run = recorded_run("fedavg_paper_seed0")
    assert ExperimentConfig.from_dict(run.config) == preset("paper", seed=0)
    assert run.rounds >= 1 and all(0 < r.val_accuracy <= 1 for r in run.records)
    assert [r.round for r in run.records] == list(range(1, run.rounds + 1))
    made = provenance("fedavg_paper_seed0")
    assert {"command", "machine", "date", "torch"} <= set(made)


@pytest.mark.parametrize("name", available())
def test_each_recorded_run_is_the_paper_preset_its_command_names(name):
    run = recorded_run(name)
    config = ExperimentConfig.from_dict(run.config)
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


def test_the_observed_paper_runs_are_read_by_the_chapters_labels():
    recorded = observed_paper_runs()
    assert list(recorded) == [label for label, name in OBSERVED_PAPER_RUNS.items() if name in available()]
    for label, run in recorded.items():
        config = ExperimentConfig.from_dict(run.config)
        assert config.seed == 0 and config.checks is not None and run.rounds == 4, label
        assert (config.attack is None) == (label == "no attack"), label
    with pytest.raises(ConfigError, match="no observed paper-preset run is labelled 'nope'; choose from no attack, "):
        observed_paper_runs("nope")


def test_unknown_recorded_run():
    with pytest.raises(ConfigError, match="no recorded run named 'nope'; available: "):
        recorded_run("nope")


def test_save_and_read_round_trip(tmp_path):
    from fedutils.experiment import run_experiment

    result = run_experiment(preset("smoke", max_rounds=1), cache=False, progress=False, download=False)
    result.save(tmp_path / "run.json")
    again = type(result).read(tmp_path / "run.json")
    assert again.records == result.records and again.config == result.config
