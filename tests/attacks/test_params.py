"""Attack options: defaults from the talk, validation, names and round trips."""

from __future__ import annotations

import pytest

from fedutils.attacks import (
    ATTACKS,
    AlternatingMinimisation,
    Anchor,
    DataPoisoning,
    DistanceForm,
    Estimation,
    ExplicitBoosting,
    StealthyPoisoning,
    StepOrder,
    attack_from_dict,
    attack_params,
)
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError
from fedutils.presets import preset


def test_defaults_follow_the_talk():
    boosting = ExplicitBoosting()
    assert boosting.boost is None and boosting.epochs == 5 and boosting.stop_loss is None
    stealthy = StealthyPoisoning()
    assert (stealthy.rho, stealthy.epochs, stealthy.anchor) == (1e-4, 10, Anchor.OTHERS)
    alternating = AlternatingMinimisation()
    assert (alternating.stealth_steps, alternating.epochs, alternating.rho) == (10, 10, 1e-4)
    assert alternating.order is StepOrder.MALICIOUS_FIRST and alternating.distance is DistanceForm.SQUARED
    assert not alternating.weights_only and alternating.anchor is Anchor.SELF
    assert DataPoisoning().copies == 10
    assert {"explicit_boosting", "stealthy", "alternating", "data_poisoning"} <= set(ATTACKS)
    assert all(params().attackers == 1 for params in ATTACKS.values())  # the paper's one attacker by default


def test_strings_become_enums_and_integers_floats():
    params = AlternatingMinimisation(order="stealth_first", estimation="previous", boost=2, epochs=3)
    assert params.order is StepOrder.STEALTH_FIRST and params.estimation is Estimation.PREVIOUS
    assert isinstance(params.boost, float) and isinstance(params.epochs, float)
    assert params == AlternatingMinimisation(
        order=StepOrder.STEALTH_FIRST, estimation="previous", boost=2.0, epochs=3.0
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ExplicitBoosting(boost=0), r"boost \(λ\) must be a positive number"),
        (lambda: ExplicitBoosting(epochs=0), r"epochs \(malicious steps\) must be an integer of at least 1"),
        (lambda: StealthyPoisoning(rho=-1), r"rho \(ρ\) must be a number of at least 0"),
        (lambda: AlternatingMinimisation(stealth_steps=0), "stealth_steps must be an integer of at least 1"),
        (lambda: AlternatingMinimisation(order="sideways"), "order must be one of malicious_first, stealth_first"),
        (lambda: DataPoisoning(copies=0), "copies must be an integer of at least 1"),
        (lambda: ExplicitBoosting(malicious_agent=-1), "malicious_agent must be a non-negative integer"),
        (lambda: attack_params("backdoor"), "unknown attack 'backdoor'; choose one of: explicit_boosting"),
        (lambda: attack_params("explicit_boosting", rho=1.0), "rho does not apply to explicit_boosting"),
        (lambda: preset("fast", attack=ExplicitBoosting(malicious_agent=10)), r"between 0 and k − 1 = 9, got 10"),
        (lambda: preset("fast", attack="explicit_boosting"), "attack must be an attack's options"),
    ],
)
def test_bad_options_get_one_sentence(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_round_trip_through_dicts_and_configs(name):
    params = attack_params(name, estimation="previous", malicious_agent=3)
    assert attack_from_dict(params.to_dict()) == params
    config = preset("fast", attack=params)
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    assert config.malicious_agent == 3


def test_the_last_agent_is_malicious_by_default():
    assert preset("fast", attack=ExplicitBoosting()).malicious_agent == 9
    assert preset("fast").malicious_agent is None
