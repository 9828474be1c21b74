"""Chapter 9's exercise checks judge the reasoning on the student's own runs, on a tiny federation of UCI Adult."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.attacks import ExplicitBoosting
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import adult as exercises
from fedutils.checks import ServerChecks
from fedutils.config import ExperimentConfig
from fedutils.run_options import DataSource
from fedutils.simulation.setup import prepare

pytestmark = pytest.mark.slow  # federations on the whole Adult split

AUTHORS = "explicit, loss ≤ 1e-6 (authors' code)"


@pytest.fixture(scope="module")
def adult_runs(adult_copy: Path) -> dict:
    """The chapter's runs at a tiny scale, with the server's checks observing: two rounds of 300 rows per agent,
    at a learning rate high enough (0.01) that the honest aggregate beats "≤ 50K for everybody" as in the chapter."""
    long = preset(
        "paper_adult", samples_per_agent=300, learning_rate=0.01, validation_samples=1000, max_rounds=2,
        stop_accuracy=None, checks=ServerChecks(),
    )  # fmt: skip

    def run(config: ExperimentConfig):
        return run_experiment(config, QUIET.replace(data=DataSource(adult_copy, download=False)))

    return {
        "long": long,
        "run": run,
        "benign": run(long),
        "explicit_runs": {
            "explicit, 5 steps (talk)": run(long.replace(attack=ExplicitBoosting())),
            AUTHORS: run(long.replace(attack=ExplicitBoosting(stop_loss=1e-6))),
        },
        "sweep": {f"{e} steps": run(long.replace(attack=ExplicitBoosting(epochs=e))) for e in exercises.SWEPT_STEPS},
        "test_split": prepare(long, DataSource(adult_copy, download=False)).dataset.test,
    }


def test_the_fewest_steps_are_recomputed_from_the_sweep_and_the_chapter_runs(adult_runs):
    benign, explicit_runs, sweep = adult_runs["benign"], adult_runs["explicit_runs"], adult_runs["sweep"]
    expected = exercises.fewest_goal_steps([*explicit_runs.values(), *sweep.values()], benign)
    assert exercises.check_steps(expected, sweep, explicit_runs, benign)
    wrong = 20 if expected != 20 else 10
    with pytest.raises(AnswerError, match="steps"):
        exercises.check_steps(wrong, sweep, explicit_runs, benign)
    if expected is not None:
        with pytest.raises(AnswerError, match="not None"):
            exercises.check_steps(None, sweep, explicit_runs, benign)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_steps(..., sweep, explicit_runs, benign)
    with pytest.raises(AnswerError, match="no run with 20 steps"):
        exercises.check_steps(expected, {"10 steps": sweep["10 steps"]}, explicit_runs, benign)
    shorter = adult_runs["run"](adult_runs["long"].replace(max_rounds=1, attack=ExplicitBoosting(epochs=10)))
    with pytest.raises(AnswerError, match="max_rounds"):
        exercises.check_steps(expected, {"10 steps": shorter, "20 steps": sweep["20 steps"]}, explicit_runs, benign)


def test_the_collapse_gaps_are_in_points_and_balanced_accuracy_is_the_mean_recall(adult_runs):
    first_round = {"no attack": adult_runs["benign"]} | adult_runs["explicit_runs"]
    test_split = adult_runs["test_split"]
    accuracy_gap, balanced_gap = exercises.collapse_gaps(first_round, test_split)
    assert balanced_gap > accuracy_gap, "balanced accuracy should see the collapse more clearly"
    assert exercises.check_collapse_statistic(accuracy_gap, balanced_gap, first_round, test_split)
    with pytest.raises(AnswerError, match="fraction"):
        exercises.check_collapse_statistic(accuracy_gap / 100, balanced_gap, first_round, test_split)
    with pytest.raises(AnswerError, match="balanced_gap"):
        exercises.check_collapse_statistic(accuracy_gap, accuracy_gap, first_round, test_split)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_collapse_statistic(accuracy_gap, ..., first_round, test_split)


def test_a_tighter_gamma_is_read_off_the_verdicts_of_the_right_runs(adult_runs):
    benign, authors = adult_runs["benign"], adult_runs["explicit_runs"][AUTHORS]
    gaps = exercises.accuracy_gaps(authors, malicious=True)
    honest = max(exercises.accuracy_gaps(benign, malicious=False))
    assert exercises.check_tighter_gamma(authors, min(gaps), honest, benign)
    with pytest.raises(AnswerError, match="fraction"):
        exercises.check_tighter_gamma(authors, min(gaps) / 100, honest, benign)
    if max(gaps) - min(gaps) > exercises.POINTS_TOLERANCE:
        with pytest.raises(AnswerError, match="largest gap"):
            exercises.check_tighter_gamma(authors, max(gaps), honest, benign)
    among_attacked = max(exercises.accuracy_gaps(authors, malicious=False))
    assert abs(among_attacked - honest) > exercises.POINTS_TOLERANCE
    with pytest.raises(AnswerError, match="honest_largest"):  # the honest updates of the attacked run
        exercises.check_tighter_gamma(authors, min(gaps), among_attacked, benign)
    talk = adult_runs["explicit_runs"]["explicit, 5 steps (talk)"]
    with pytest.raises(AnswerError, match="stopping rule"):  # the talk's 5 steps, not the authors' rule
        exercises.check_tighter_gamma(talk, min(gaps), honest, benign)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_tighter_gamma(authors, ..., honest, benign)
