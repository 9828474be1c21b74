"""Chapter 6's exercise checks judge the reasoning on the student's own runs, on small real data."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.analysis import rounds_frame
from fedutils.attacks import ExplicitBoosting
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import estimation as exercises


def shares(kept, with_attacker: bool = False) -> dict[int, torch.Tensor]:
    """The others' share a_t of every kept round, as the chapter's solution computes it."""
    result = {}
    for t in sorted(kept.updates):
        benign, malicious = kept.benign_and_malicious_updates(t)
        result[t] = (benign.sum(0) + (malicious if with_attacker else 0)) * kept.config.aggregation_weight
    return result


def quality(kept, with_attacker: bool = False) -> tuple[dict[int, float], dict[int, float]]:
    """(cosine, relative error) of the previous-step estimate per round, as the chapter's solution computes them."""
    others = shares(kept, with_attacker)
    cosine, error = {}, {}
    for t in [t for t in others if t - 1 in others]:
        estimate, actual = others[t - 1], others[t]
        cosine[t] = torch.nn.functional.cosine_similarity(estimate, actual, dim=0).item()
        error[t] = ((actual - estimate).norm() / actual.norm()).item()
    return cosine, error


def test_the_estimate_is_compared_with_the_others_share_of_the_next_round(checked_run):
    cosine, error = quality(checked_run)
    assert list(cosine) == [2]
    assert exercises.check_estimate_quality(cosine, error, checked_run)
    assert exercises.check_estimate_quality(pd.Series(cosine), pd.Series(error), checked_run), "a Series does too"
    wrong_cosine, wrong_error = quality(checked_run, with_attacker=True)
    with pytest.raises(AnswerError, match="attacker's own update"):
        exercises.check_estimate_quality(wrong_cosine, error, checked_run)
    with pytest.raises(AnswerError, match="attacker's own update"):
        exercises.check_estimate_quality(cosine, wrong_error, checked_run)
    others = shares(checked_run)
    over_estimate = {2: ((others[2] - others[1]).norm() / others[1].norm()).item()}
    with pytest.raises(AnswerError, match="divides by the estimate's norm"):
        exercises.check_estimate_quality(cosine, over_estimate, checked_run)
    with pytest.raises(AnswerError, match="estimate_cosine"):
        exercises.check_estimate_quality({2: 1.0}, error, checked_run)  # the round compared with itself
    with pytest.raises(AnswerError, match="one entry for each round"):
        exercises.check_estimate_quality({1: 0.5, 2: cosine[2]}, error, checked_run)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_estimate_quality(..., error, checked_run)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_estimate_quality(cosine, error, ...)
    with pytest.raises(AnswerError, match="two consecutive rounds"):
        exercises.check_estimate_quality(cosine, error, dataclasses.replace(checked_run, updates={}))


def test_the_best_damping_is_the_projection_of_the_actual_share_on_the_estimate(checked_run):
    others = shares(checked_run)
    estimate, actual = others[1], others[2]
    best = {2: (actual @ estimate / (estimate @ estimate)).item()}
    assert exercises.check_best_scale(best, checked_run)
    closer = (actual - best[2] * estimate).norm()
    assert closer <= (actual - estimate).norm() and closer <= actual.norm(), "c* beats both c = 1 and c = 0"
    if abs(best[2] - 1) > 1e-2:
        with pytest.raises(AnswerError, match="plain estimate"):
            exercises.check_best_scale({2: 1.0}, checked_run)
    with pytest.raises(AnswerError, match="ratio of the norms"):
        exercises.check_best_scale({2: (actual.norm() / estimate.norm()).item()}, checked_run)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_best_scale(..., checked_run)


@pytest.fixture(scope="module")
def estimated_runs():
    """Explicit boosting with the previous-step estimate (smoke preset), as a start point and as a correction."""
    base = preset("smoke", evaluate_agents=False)
    return {
        use: run_experiment(base.replace(attack=ExplicitBoosting(estimation="previous", estimation_use=use)), QUIET)
        for use in ("pre", "post")
    }


def test_pre_or_post_compares_the_two_uses_on_the_same_seed(estimated_runs):
    groups = {("explicit_boosting", "previous"): [estimated_runs["pre"]]}
    mean = {use: rounds_frame(run)["target_confidence"].mean() for use, run in estimated_runs.items()}
    better = max(mean, key=mean.get)
    worse = "post" if better == "pre" else "pre"
    assert exercises.check_pre_or_post(estimated_runs["post"], better, groups)
    with pytest.raises(AnswerError, match="so `better_use` is"):
        exercises.check_pre_or_post(estimated_runs["post"], worse, groups)
    with pytest.raises(AnswerError, match="the other use"):
        exercises.check_pre_or_post(estimated_runs["pre"], better, groups)  # the chapter's own use again
    without = dataclasses.replace(
        estimated_runs["post"], config=estimated_runs["post"].config.replace(attack=ExplicitBoosting())
    )
    with pytest.raises(AnswerError, match="previous-step estimate"):
        exercises.check_pre_or_post(without, better, groups)
    other_seed = dataclasses.replace(estimated_runs["post"], config=estimated_runs["post"].config.replace(seed=5))
    with pytest.raises(AnswerError, match="seed 5"):
        exercises.check_pre_or_post(other_seed, better, groups)
    with pytest.raises(AnswerError, match="'pre' or 'post'"):
        exercises.check_pre_or_post(estimated_runs["post"], "both", groups)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_pre_or_post(estimated_runs["post"], ..., groups)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_pre_or_post(..., better, groups)
