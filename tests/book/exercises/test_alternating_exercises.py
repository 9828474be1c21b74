"""Chapter 5's exercise checks judge the reasoning on the student's own runs, on small real data."""

from __future__ import annotations

import dataclasses

import pytest
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.analysis import goal_met, rounds_frame
from fedutils.attacks import AdversarialModel, AlternatingMinimisation
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import alternating as exercises
from fedutils.checks import ServerChecks
from fedutils.checks.distance import distance_ranges
from fedutils.records import RunResult

ROUND = 2
"""The smoke runs' last round: the histogram round of the chapter at smoke parameters."""


def _run(attack):
    config = preset("smoke", attack=attack, checks=ServerChecks(), keep_updates=(1, 2) if attack else ())
    return run_experiment(config, QUIET)


@pytest.fixture(scope="module")
def alternating():
    return _run(AlternatingMinimisation())


@pytest.fixture(scope="module")
def one_to_one():
    return _run(AlternatingMinimisation(stealth_steps=1))


@pytest.fixture(scope="module")
def unconstrained():
    return _run(AlternatingMinimisation(rho=0))


@pytest.fixture(scope="module")
def aimed():
    return _run(AlternatingMinimisation(adversarial_model=AdversarialModel.GLOBAL_ESTIMATE))


@pytest.fixture(scope="module")
def benign():
    return _run(None)


def test_the_stealth_ratio_answers_compare_the_shared_rounds(one_to_one, alternating):
    cost = exercises.mean_accuracy_cost(one_to_one, alternating)
    one, ten = exercises.peaks(one_to_one, alternating)
    assert exercises.check_stealth_ratio(one_to_one, cost, one > ten, alternating)
    assert exercises.check_stealth_ratio(one_to_one, round(cost, 2), one > ten, alternating)  # read off a table
    with pytest.raises(AnswerError, match="`higher_peak` is"):
        exercises.check_stealth_ratio(one_to_one, cost, one <= ten, alternating)
    if abs(cost) > exercises.POINTS_TOLERANCE:
        with pytest.raises(AnswerError, match="wrong sign"):
            exercises.check_stealth_ratio(one_to_one, -cost, one > ten, alternating)
        with pytest.raises(AnswerError, match="not a fraction"):
            exercises.check_stealth_ratio(one_to_one, cost / 100, one > ten, alternating)
    with pytest.raises(AnswerError, match="points less accurate"):
        exercises.check_stealth_ratio(one_to_one, cost + 1.0, one > ten, alternating)
    with pytest.raises(AnswerError, match="stealth_steps=1"):  # ten stealth steps: the chapter's own run
        exercises.check_stealth_ratio(alternating, cost, one > ten, alternating)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_stealth_ratio(one_to_one, ..., one > ten, alternating)


def test_the_distance_answers_are_measured_in_the_histogram_round(unconstrained, alternating):
    without = distance_ranges(*unconstrained.benign_and_malicious_updates(ROUND))
    with_term = distance_ranges(*alternating.benign_and_malicious_updates(ROUND))
    extra = without.update_max - with_term.update_max
    beyond = without.update_min > without.band_max
    assert exercises.check_without_distance(unconstrained, extra, beyond, alternating, ROUND)
    assert exercises.check_without_distance(unconstrained, round(extra, 2), beyond, alternating, ROUND)
    with pytest.raises(AnswerError, match="`outside_band` is"):
        exercises.check_without_distance(unconstrained, extra, not beyond, alternating, ROUND)
    with pytest.raises(AnswerError, match="`extra_distance` is"):  # the farthest distance itself, not the change
        exercises.check_without_distance(unconstrained, without.update_max, beyond, alternating, ROUND)
    with pytest.raises(AnswerError, match=r"rho=0\.0"):  # the chapter's run, with the distance term
        exercises.check_without_distance(alternating, extra, beyond, alternating, ROUND)
    with pytest.raises(AnswerError, match="kept no updates of round 3"):
        exercises.check_without_distance(unconstrained, extra, beyond, alternating, 3)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_without_distance(unconstrained, extra, ..., alternating, ROUND)


def _goal_rounds(run, benign):
    met = goal_met(run, benign)
    return [int(t) for t in met.index[met]]


def test_the_goal_rounds_need_both_halves_of_the_goal(aimed, checked_run, benign, alternating):
    at_global, boosted = _goal_rounds(aimed, benign), _goal_rounds(checked_run, benign)
    assert exercises.check_goal_rounds(at_global, boosted, aimed, checked_run, benign)
    with pytest.raises(AnswerError, match="aimed_goal_rounds"):
        exercises.check_goal_rounds(sorted(set(at_global) ^ {1}), boosted, aimed, checked_run, benign)
    with pytest.raises(AnswerError, match="explicit_goal_rounds"):
        exercises.check_goal_rounds(at_global, sorted(set(boosted) ^ {2}), aimed, checked_run, benign)
    with pytest.raises(AnswerError, match="GLOBAL_ESTIMATE"):  # the talk's version is not the aimed one
        exercises.check_goal_rounds(at_global, boosted, alternating, checked_run, benign)
    with pytest.raises(AnswerError, match="honest run"):
        exercises.check_goal_rounds(at_global, boosted, aimed, checked_run, aimed)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_goal_rounds(..., boosted, aimed, checked_run, benign)


def _with_round(run: RunResult, round_index: int, confidence: float, accuracy: float) -> RunResult:
    """``run`` with one round's global target confidence and validation accuracy set (for a known answer)."""
    records = list(run.records)
    record = records[round_index - 1]
    target = dataclasses.replace(record.targets[0], confidence=confidence)
    records[round_index - 1] = dataclasses.replace(record, val_accuracy=accuracy, targets=(target, *record.targets[1:]))
    return dataclasses.replace(run, records=records)


def test_a_confident_but_costly_round_is_not_the_goal(aimed, checked_run, benign):
    honest = rounds_frame(benign)["val_accuracy"]
    staged = _with_round(aimed, 1, 0.99, honest[1] - 0.30)  # the target is the attacker's, at 30 points' cost
    staged = _with_round(staged, 2, 0.95, honest[2] - 0.01)  # and then at 1 point
    boosted = _goal_rounds(checked_run, benign)
    assert exercises.check_goal_rounds([2], boosted, staged, checked_run, benign)
    with pytest.raises(AnswerError, match=r"round 1 it is 30\.00 points below"):
        exercises.check_goal_rounds([1, 2], boosted, staged, checked_run, benign)
