"""Chapter 1's exercise checks judge the reasoning on the student's own runs, on small real data."""

from __future__ import annotations

import pytest
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.analysis import agents_frame, rounds_frame
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import fedavg as exercises
from fedutils.records import RunResult


def _run(**changes) -> RunResult:
    return run_experiment(preset("smoke", **changes), QUIET)


@pytest.fixture(scope="module")
def result() -> RunResult:
    return _run()


def test_participation_needs_c_one_half_and_the_signed_difference(result):
    half = _run(participation=0.5)
    assert exercises.check_participation(half, half.rounds - result.rounds, result)
    with pytest.raises(AnswerError, match="extra_rounds"):
        exercises.check_participation(half, half.rounds - result.rounds + 1, result)
    with pytest.raises(AnswerError, match=r"participation=0\.5"):
        exercises.check_participation(result, 0, result)  # the run with all ten agents
    shorter = RunResult(result.config, result.records[:1])  # C = 1 stopping a round earlier
    with pytest.raises(AnswerError, match="wrong sign"):
        exercises.check_participation(half, shorter.rounds - half.rounds, shorter)
    changed = RunResult(half.config.replace(learning_rate=0.01), half.records)
    with pytest.raises(AnswerError, match="learning_rate"):
        exercises.check_participation(changed, 0, result)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_participation(half, ..., result)


def test_the_averaging_gain_is_recomputed_and_common_slips_are_named(result):
    gain = exercises.averaging_gains(result)
    assert list(gain.index) == [record.round for record in result.records]
    assert exercises.check_averaging_gain(gain, result)
    assert exercises.check_averaging_gain(gain.to_dict(), result)
    with pytest.raises(AnswerError, match="reversed"):
        exercises.check_averaging_gain(-gain, result)
    with pytest.raises(AnswerError, match="points"):
        exercises.check_averaging_gain(100 * gain, result)
    best = rounds_frame(result)["val_accuracy"] - agents_frame(result).groupby("round")["val_accuracy"].max()
    with pytest.raises(AnswerError, match="best agent"):
        exercises.check_averaging_gain(best, result)
    with pytest.raises(AnswerError, match="one value per round"):
        exercises.check_averaging_gain(gain.iloc[:1], result)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_averaging_gain(..., result)


def test_the_non_iid_cost_is_read_after_the_same_round(result):
    skewed = _run(partition="dirichlet", dirichlet_alpha=0.1)
    cost = exercises.accuracy_after(result, skewed.rounds) - skewed.final_accuracy
    assert exercises.check_non_iid(skewed, cost, result)
    with pytest.raises(AnswerError, match="wrong sign"):
        exercises.check_non_iid(skewed, -cost, result)
    with pytest.raises(AnswerError, match="partition='dirichlet'"):
        exercises.check_non_iid(result, 0.0, result)  # the IID run itself
    other_alpha = RunResult(skewed.config.replace(dirichlet_alpha=0.5), skewed.records)
    with pytest.raises(AnswerError, match=r"dirichlet_alpha=0\.1"):
        exercises.check_non_iid(other_alpha, cost, result)
    one_round = RunResult(skewed.config, skewed.records[:1])  # compared after round 1, not the IID run's last
    wrong = result.final_accuracy - one_round.final_accuracy
    if abs(wrong - (exercises.accuracy_after(result, 1) - one_round.final_accuracy)) > 1e-6:
        with pytest.raises(AnswerError, match="different rounds"):
            exercises.check_non_iid(one_round, wrong, result)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_non_iid(skewed, ..., result)
