"""Chapter 3's exercise checks judge thresholds and verdicts on the student's own observed runs, on small real data."""

from __future__ import annotations

import dataclasses

import pytest
from support import QUIET

from fedutils import run_experiment
from fedutils.analysis import checks_frame
from fedutils.attacks import AdversarialModel, AlternatingMinimisation
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import stealth_checks as exercises
from fedutils.records import RunResult


def _variant(run: RunResult, **changes) -> RunResult:
    config = run.config.replace(keep_updates=(), **changes)
    return run_experiment(config, QUIET)


@pytest.fixture(scope="module")
def calibration(checked_run) -> list[RunResult]:
    """An attack-free smoke run observed by both checks (the chapter's calibration, one seed)."""
    return [_variant(checked_run, attack=None)]


@pytest.fixture(scope="module")
def runs(checked_run, calibration) -> dict[str, RunResult]:
    return {"no attack": calibration[0], "explicit boosting": checked_run}


def _statistics(run: RunResult, check: str, malicious: bool) -> list[float]:
    frame = checks_frame(run)
    rows = frame[(frame["check"] == check) & (frame["is_malicious"] == malicious)]
    return rows["statistic"].tolist()


def _with_attacker_excess(run: RunResult, excess: float) -> RunResult:
    """``run`` with the attacker's recorded distance excess replaced by ``excess`` in every round."""
    records = [
        dataclasses.replace(
            record,
            checks=tuple(
                dataclasses.replace(c, statistic=excess) if c.check == "distance" and c.is_malicious else c
                for c in record.checks
            ),
        )
        for record in run.records
    ]
    return RunResult(run.config, records)


def test_the_strict_gamma_is_the_largest_honest_gap(calibration):
    largest = max(_statistics(calibration[0], "accuracy", False))
    assert exercises.check_strict_gamma(largest, calibration)
    smaller = sorted(set(_statistics(calibration[0], "accuracy", False)))[-2]
    with pytest.raises(AnswerError, match=r"flags \d+ honest"):
        exercises.check_strict_gamma(smaller, calibration)  # a percentile below the top: a false alarm
    with pytest.raises(AnswerError, match="looser"):
        exercises.check_strict_gamma(0.10, calibration)  # the paper's default γ
    with pytest.raises(AnswerError, match="points"):
        exercises.check_strict_gamma(100 * largest, calibration)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_strict_gamma(..., calibration)


def test_the_strict_verdicts_are_recounted_at_the_strict_gamma(calibration, runs):
    gamma = exercises.strictest_gamma(calibration)
    attacker_gaps = _statistics(runs["explicit boosting"], "accuracy", True)
    flagged = {"explicit boosting": sum(gap > gamma for gap in attacker_gaps)}
    alarms = sum(gap > gamma for run in runs.values() for gap in _statistics(run, "accuracy", False))
    assert exercises.check_strict_catches(flagged, alarms, calibration, runs)
    with pytest.raises(AnswerError, match="explicit boosting"):
        exercises.check_strict_catches(
            {"explicit boosting": flagged["explicit boosting"] + 1}, alarms, calibration, runs
        )
    with pytest.raises(AnswerError, match="honest updates"):
        exercises.check_strict_catches(flagged, alarms + 1, calibration, runs)
    with pytest.raises(AnswerError, match="one entry per attacked run"):
        exercises.check_strict_catches({**flagged, "no attack": 0}, alarms, calibration, runs)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_strict_catches(..., alarms, calibration, runs)


def test_a_separating_kappa_must_spare_every_honest_update_and_catch_every_round(calibration, runs):
    low, high = exercises.separating_window(runs, calibration, "explicit boosting")
    if high <= low:  # the smoke attacker is not separable: make it so, and check the None branch on the real one
        with pytest.raises(AnswerError, match="answer None"):
            exercises.check_separating_kappa({"explicit boosting": high}, runs, calibration)
        assert exercises.check_separating_kappa({"explicit boosting": None}, runs, calibration)
        runs = {**runs, "explicit boosting": _with_attacker_excess(runs["explicit boosting"], 2 * low + 0.1)}
        low, high = exercises.separating_window(runs, calibration, "explicit boosting")
    assert exercises.check_separating_kappa({"explicit boosting": (low + high) / 2}, runs, calibration)
    assert exercises.check_separating_kappa({"explicit boosting": low}, runs, calibration)  # flagging is excess > κ
    with pytest.raises(AnswerError, match="flags honest updates"):
        exercises.check_separating_kappa({"explicit boosting": low - 0.01}, runs, calibration)
    with pytest.raises(AnswerError, match="lets the attacker through"):
        exercises.check_separating_kappa({"explicit boosting": high}, runs, calibration)
    with pytest.raises(AnswerError, match="can be separated"):
        exercises.check_separating_kappa({"explicit boosting": None}, runs, calibration)
    hidden = {**runs, "explicit boosting": _with_attacker_excess(runs["explicit boosting"], 0.0)}
    with pytest.raises(AnswerError, match="answer None"):
        exercises.check_separating_kappa({"explicit boosting": (low + high) / 2}, hidden, calibration)
    assert exercises.check_separating_kappa({"explicit boosting": None}, hidden, calibration)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_separating_kappa(..., runs, calibration)


def test_the_rho_run_must_raise_rho_and_its_verdicts_are_read_off(checked_run):
    rho_run = _variant(
        checked_run,
        attack=AlternatingMinimisation(adversarial_model=AdversarialModel.GLOBAL_ESTIMATE, rho=0.1),
        max_rounds=1,
    )
    frame = checks_frame(rho_run)
    in_band = not frame[(frame["check"] == "distance") & frame["is_malicious"]]["flagged"].any()
    survives = rho_run.records[-1].target_confidence > 0.5
    assert exercises.check_rho(rho_run, in_band, survives)
    with pytest.raises(AnswerError, match="rho_in_band"):
        exercises.check_rho(rho_run, not in_band, survives)
    with pytest.raises(AnswerError, match="rho_survives"):
        exercises.check_rho(rho_run, in_band, not survives)
    paper_rho = RunResult(rho_run.config.replace(attack=rho_run.config.attack.replace(rho=1e-4)), rho_run.records)
    with pytest.raises(AnswerError, match="raise ρ"):
        exercises.check_rho(paper_rho, in_band, survives)
    filtered = RunResult(rho_run.config.replace(checks=rho_run.config.checks.replace(mode="filter")), rho_run.records)
    with pytest.raises(AnswerError, match="observing"):
        exercises.check_rho(filtered, in_band, survives)
    with pytest.raises(AnswerError, match="alternating"):
        exercises.check_rho(checked_run, in_band, survives)  # explicit boosting, not the alternating attack
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_rho(rho_run, ..., survives)
