"""Experiment configuration: the paper's defaults and validation of every option."""

from __future__ import annotations

import pytest

from fedutils.aggregators import Bulyan, Krum, ServerRule, TrimmedMean
from fedutils.checks import DistanceCheck, ServerChecks
from fedutils.config import ExperimentConfig, PartitionScheme
from fedutils.data.targets import PAPER_TARGET, Target
from fedutils.errors import ConfigError
from fedutils.models import ModelName
from fedutils.training import BatchOrder


def test_defaults_are_the_papers_setting():
    config = ExperimentConfig()
    assert config.model is ModelName.MODEL_A
    assert (config.num_agents, config.participation, config.local_epochs, config.batch_size) == (10, 1.0, 5, 50)
    assert config.learning_rate == 1e-3 and config.batch_order is BatchOrder.SEQUENTIAL
    assert (config.stop_accuracy, config.max_rounds) == (0.91, 40)
    assert config.partition is PartitionScheme.IID and config.partition_seed == 777
    assert config.targets == (PAPER_TARGET,)
    assert config.agents_per_round == 10 and config.aggregation_weight == 0.1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_agents": 0}, r"k \(num_agents\) must be an integer between 1 and 60000, got 0"),
        ({"num_agents": 2.5}, r"k \(num_agents\) must be an integer"),
        ({"participation": 0.0}, r"C \(participation\) must be in \(0, 1\], got 0.0"),
        ({"participation": 1.5}, r"C \(participation\) must be in \(0, 1\]"),
        ({"num_agents": 100, "participation": 0.005}, r"selects no agent out of k = 100"),
        ({"local_epochs": 0}, r"E \(local_epochs\) must be positive"),
        ({"batch_size": 7000}, r"B \(batch_size\) = 7000 is larger than each agent's 6000 samples"),
        ({"learning_rate": -1.0}, "learning_rate must be positive"),
        ({"max_rounds": 0}, r"T \(max_rounds\) must be an integer"),
        ({"stop_accuracy": 91}, r"stop_accuracy must be a fraction in \(0, 1\]"),
        ({"targets": ((10_000, 7),)}, "target index 10000 is outside the test set; allowed: 0 to 9999"),
        ({"targets": ((5454, 11),)}, "target class 11 is not a class"),
        ({"targets": ()}, "at least one INDEX:CLASS"),
        (
            {"model": "resnet"},
            "model must be one of model_a, fast_cnn, census_mlp, census_mlp_two_layers; got 'resnet'",
        ),
        ({"batch_order": "random"}, "batch_order must be one of sequential, shuffled"),
        ({"local_epochs": "five"}, "local_epochs must be a number"),
        ({"samples_per_agent": 0}, "samples_per_agent must be an integer between 1 and 6000"),
        ({"validation_samples": 20_000}, "validation_samples must be an integer between 1 and 10000"),
        ({"dirichlet_alpha": 0.0}, "dirichlet_alpha must be positive"),
        ({"seed": -1}, "seed must be an integer at least 0, got -1"),
        ({"partition_seed": "777"}, "partition_seed must be an integer"),
        ({"samples_per_agent": 20}, r"B \(batch_size\) = 50 is larger than each agent's 20 samples"),
        ({"keep_updates": 4}, "keep_updates must be a tuple of round numbers, got 4"),
        ({"keep_updates": (0,)}, r"keep_updates \(each a round number\) must be an integer between 1 and 40"),
        ({"keep_updates": (41,), "max_rounds": 40}, r"keep_updates .* between 1 and 40, got 41"),
    ],
)
def test_bad_values_get_one_sentence_naming_the_option(changes, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig(**changes)


def test_replace_validates_and_rejects_unknown_options():
    assert ExperimentConfig().replace(num_agents=20).num_agents == 20
    with pytest.raises(ConfigError, match="k \\(num_agents\\)"):
        ExperimentConfig().replace(num_agents=-1)
    with pytest.raises(ConfigError, match="unknown option\\(s\\) rounds; allowed: dataset, model"):
        ExperimentConfig().replace(rounds=3)


def test_strings_and_numbers_are_normalised():
    config = ExperimentConfig(model="fast_cnn", local_epochs=1, targets=[(1, 2)])
    assert config.model is ModelName.FAST_CNN
    assert isinstance(config.local_epochs, float)
    assert config.targets == (Target(1, 2),)
    assert config == ExperimentConfig(model=ModelName.FAST_CNN, local_epochs=1.0, targets=(Target(1, 2),))


def test_dict_round_trip():
    config = ExperimentConfig(num_agents=5, stop_accuracy=None, targets=((1, 2), (3, 4)), keep_updates=[4, 2, 4])
    assert config.keep_updates == (2, 4)
    as_dict = config.to_dict()
    assert as_dict["model"] == "model_a" and as_dict["targets"] == [[1, 2], [3, 4]]
    assert as_dict["keep_updates"] == [2, 4]
    assert ExperimentConfig.from_dict(as_dict) == config
    del as_dict["keep_updates"]  # results recorded before the option existed
    assert ExperimentConfig.from_dict(as_dict).keep_updates == ()


def test_checks_round_trip_and_are_absent_from_the_dict_when_off():
    config = ExperimentConfig(checks=ServerChecks(checks=(DistanceCheck(kappa=0.2),), mode="filter"))
    as_dict = config.to_dict()
    assert as_dict["checks"]["mode"] == "filter"
    assert ExperimentConfig.from_dict(as_dict) == config
    assert "checks" not in ExperimentConfig().to_dict()  # runs without checks keep their cache keys


def test_the_server_keeps_test_examples_apart_from_the_reported_ones():
    assert ExperimentConfig().reported_validation_size == 10_000
    assert ExperimentConfig(checks=ServerChecks()).reported_validation_size == 9_000
    assert ExperimentConfig(checks=ServerChecks(checks=(DistanceCheck(),))).reported_validation_size == 10_000
    with pytest.raises(ConfigError, match="validation_samples must be an integer between 1 and 9000"):
        ExperimentConfig(checks=ServerChecks(), validation_samples=9_500)
    with pytest.raises(ConfigError, match="checks must be a fedutils"):
        ExperimentConfig(checks="accuracy")


def test_aggregator_round_trips_is_absent_when_off_and_checks_its_assumptions():
    config = ExperimentConfig(aggregator=TrimmedMean(f=2, trim=3))
    assert config.aggregator == ServerRule(TrimmedMean(f=2, trim=3))  # a bare rule is the server's whole rule
    assert config.to_dict()["aggregator"]["rule"] == "trimmed_mean"
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    assert "aggregator" not in ExperimentConfig().to_dict()
    with pytest.raises(ConfigError, match="bulyan with f = 2 needs at least 11 updates per round; k·C = 10"):
        ExperimentConfig(aggregator=Bulyan(f=2))
    with pytest.raises(ConfigError, match="filter mode cannot be combined with krum"):
        ExperimentConfig(aggregator=Krum(), checks=ServerChecks(mode="filter"))
    with pytest.raises(ConfigError, match="the accuracy check aggregates all updates but one"):
        ExperimentConfig(num_agents=9, aggregator=Krum(f=3), checks=ServerChecks())  # 9 > 9 − 1
    with pytest.raises(ConfigError, match="aggregator must be a rule or a ServerRule"):
        ExperimentConfig(aggregator="krum")


def test_dropout_is_checked_and_absent_from_the_plain_form_when_off():
    assert "dropout" not in ExperimentConfig().to_dict()  # runs from before it existed keep their cache keys
    config = ExperimentConfig(dropout=0.3)
    assert config.to_dict()["dropout"] == 0.3 and ExperimentConfig.from_dict(config.to_dict()) == config
    for bad in (-0.1, 1.0, "half"):
        with pytest.raises(ConfigError, match="dropout must be"):
            ExperimentConfig(dropout=bad)


def test_a_config_dict_without_targets_gets_the_papers_target():
    data = ExperimentConfig(num_agents=4).to_dict()
    del data["targets"]
    assert ExperimentConfig.from_dict(data).targets == (PAPER_TARGET,)
