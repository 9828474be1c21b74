"""Named presets."""

from __future__ import annotations

import pytest

from fedutils.config import ExperimentConfig
from fedutils.data.targets import Target
from fedutils.errors import ConfigError
from fedutils.models import ModelName
from fedutils.presets import PRESETS, preset

SAME_SHAPE = ("num_agents", "participation", "partition", "partition_seed", "targets", "batch_size", "batch_order")


def test_paper_preset_is_exactly_the_papers_setting():
    paper = preset("paper")
    assert paper == ExperimentConfig()
    assert paper.model is ModelName.MODEL_A
    assert (paper.num_agents, paper.local_epochs, paper.batch_size, paper.learning_rate) == (10, 5, 50, 1e-3)
    assert (paper.stop_accuracy, paper.max_rounds) == (0.91, 40)


@pytest.mark.parametrize("name", ["fast", "smoke"])
def test_cheaper_presets_keep_the_experiment_shape(name):
    paper, cheaper = preset("paper"), preset(name)
    assert cheaper.model is ModelName.FAST_CNN
    for option in SAME_SHAPE:
        assert getattr(cheaper, option) == getattr(paper, option), option
    assert cheaper.learning_rate == paper.learning_rate and cheaper.aggregation_weight == paper.aggregation_weight


def test_smoke_is_tiny():
    smoke = preset("smoke")
    assert smoke.max_rounds <= 2 and smoke.samples_per_agent <= 500


def test_overrides_and_unknown_names():
    assert preset("fast", seed=3).seed == 3
    assert set(PRESETS) == {"paper", "fast", "smoke", "paper_k100", "fast_k100", "paper_adult"}
    with pytest.raises(ConfigError, match="unknown preset 'nope'; choose one of: paper, fast, smoke, paper_k100"):
        preset("nope")


@pytest.mark.parametrize("base", ["paper", "fast"])
def test_many_agent_presets_draw_ten_of_a_hundred_with_weights_one_over_k(base):
    many = preset(f"{base}_k100")
    assert (many.num_agents, many.agents_per_round, many.aggregation_weight, many.max_rounds) == (100, 10, 0.01, 50)
    assert many.replace(num_agents=10, participation=1.0, max_rounds=preset(base).max_rounds) == preset(base)


def test_the_adult_preset_is_the_authors_census_setting():
    census = preset("paper_adult")
    assert (census.dataset.value, census.model.value, census.stop_accuracy) == ("adult", "census_mlp", 0.85)
    assert census.targets == (Target(13_871, 0),) and census.num_agents == 10
    with pytest.raises(ConfigError, match="model model_a does not take adult inputs; use census_mlp"):
        census.replace(model="model_a")
    with pytest.raises(ConfigError, match="target"):
        census.replace(targets=(Target(5454, 7),))  # a Fashion-MNIST class: Adult has two
