"""Chapter 2's exercise checks judge the reasoning on the student's own run, on small real data."""

from __future__ import annotations

import pytest
from support import QUIET

from fedutils import run_experiment
from fedutils.attacks import ExplicitBoosting
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import explicit_boosting as exercises


def test_the_smallest_boost_is_recomputed_and_its_neighbours_fail(checked_run):
    smallest = exercises.smallest_flipping_boost(checked_run)
    assert smallest is not None and smallest > 1, "the smoke run should need some boost to flip the target"
    assert exercises.check_smallest_boost(smallest, checked_run)
    with pytest.raises(AnswerError, match="too small"):
        exercises.check_smallest_boost(smallest - 1, checked_run)
    if smallest < exercises.BOOSTS[-1]:
        with pytest.raises(AnswerError, match="smaller boost"):
            exercises.check_smallest_boost(smallest + 1, checked_run)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_smallest_boost(..., checked_run)
    with pytest.raises(AnswerError, match="not None"):
        exercises.check_smallest_boost(None, checked_run)


def _rerun(run, **attack_options):
    config = run.config
    config = config.replace(attack=ExplicitBoosting(**attack_options), keep_updates=())
    return run_experiment(config, QUIET)


def test_the_stop_rule_answer_is_read_off_the_runs(checked_run):
    benign = run_experiment(checked_run.config.replace(attack=None, keep_updates=()), QUIET)
    greedy = _rerun(checked_run, stop_loss=1e-6)
    broken = exercises.first_broken_round(greedy, benign)
    assert exercises.check_stop_rule(greedy, broken, benign)
    wrong = 1 if broken is None else None
    with pytest.raises(AnswerError, match="broken_round"):
        exercises.check_stop_rule(greedy, wrong, benign)
    with pytest.raises(AnswerError, match="stop_loss"):
        exercises.check_stop_rule(checked_run, broken, benign)  # the talk's 5 steps, not the authors' rule


def test_more_steps_needs_twenty_steps_and_the_right_comparison(checked_run):
    longer = _rerun(checked_run, epochs=20)
    sooner = (longer.rounds_to_confidence(0.5) or 99) < (checked_run.rounds_to_confidence(0.5) or 99)
    assert exercises.check_more_steps(longer, sooner, checked_run)
    with pytest.raises(AnswerError, match="flips_sooner"):
        exercises.check_more_steps(longer, not sooner, checked_run)
    with pytest.raises(AnswerError, match="epochs=20"):
        exercises.check_more_steps(checked_run, sooner, checked_run)
