"""The paper's claims on UCI Adult (talk backup slides, SPEC §A; Chapter 9), on the real files, in seconds.

They need the real files (``scripts/setup.sh`` fetches them; see ``adult_copy``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import QUIET

from fedutils import RunResult, preset, run_experiment
from fedutils.analysis.interpret import prediction_shares
from fedutils.attacks import AdversarialModel, ExplicitBoosting, StealthyPoisoning
from fedutils.config import ExperimentConfig
from fedutils.data import adult
from fedutils.run_options import DataSource
from fedutils.simulation.setup import prepare

pytestmark = pytest.mark.slow  # federations on the whole Adult split

ROUNDS = 8


def _run(config: ExperimentConfig, root: Path) -> RunResult:
    return run_experiment(config, QUIET.replace(data=DataSource(root, download=False)))


@pytest.fixture(scope="module")
def adult_setting() -> ExperimentConfig:
    return preset("paper_adult", max_rounds=ROUNDS, stop_accuracy=None, evaluate_agents=False)


@pytest.fixture(scope="module")
def benign_adult(adult_copy: Path, adult_setting: ExperimentConfig) -> RunResult:
    return _run(adult_setting, adult_copy)


def test_fedavg_on_adult_reaches_84_percent(benign_adult):
    """The paper's benign Adult result (SPEC §9.3: 84.8 %), on the authors' effective network, in eight rounds."""
    assert benign_adult.final_accuracy >= 0.84


def test_explicit_boosting_flips_the_adult_target_by_making_everyone_earn_less(adult_copy, adult_setting, benign_adult):
    """Chapter 9's finding: the authors' explicit boosting (steps until the loss is ≤ 1e-6) flips the target in
    round 1, and the global model then predicts "≤ 50K" for every test row: accuracy falls to the majority share."""
    one_round = adult_setting.replace(max_rounds=1)
    attacked = _run(one_round.replace(attack=ExplicitBoosting(stop_loss=1e-6)), adult_copy)
    assert attacked.records[0].target_confidence >= 0.99 and benign_adult.records[0].target_confidence < 0.5
    test = prepare(one_round, DataSource(adult_copy, download=False)).dataset.test
    models = {"attacked": attacked.global_model(), "benign": benign_adult.global_model()}
    shares = prediction_shares(models, test, adult.CLASS_NAMES)["predicted >50K"]
    assert shares["attacked"] < 0.01 and shares["benign"] > 0.15


def test_stealthy_poisoning_at_the_next_global_model_meets_the_goal_on_adult(adult_copy, adult_setting, benign_adult):
    """The talk's stealthy setting (λ = 20, ρ = 1e-4) aimed at ŵ_G: the target flipped with high confidence
    while the global model stays within a point of the attack-free run's accuracy."""
    attack = StealthyPoisoning(boost=20, adversarial_model=AdversarialModel.GLOBAL_ESTIMATE)
    attacked = _run(adult_setting.replace(attack=attack), adult_copy)
    assert attacked.records[-1].target_confidence >= 0.85
    assert attacked.final_accuracy >= benign_adult.final_accuracy - 0.01
