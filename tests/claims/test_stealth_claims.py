"""The paper's stealth claims (§3.3, SPEC §6), checked in seconds on small real data (the smoke preset:
200 Fashion-MNIST images per agent, 500 reported validation images, 1,000 held out for the server)."""

from __future__ import annotations

import pytest
import torch
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.analysis import checks_frame, detection_rates
from fedutils.attacks import AlternatingMinimisation, ExplicitBoosting
from fedutils.checks import AccuracyCheck, CheckMode, ServerChecks

OBSERVE = ServerChecks()
FILTER = ServerChecks(mode=CheckMode.FILTER)


def _run(attack=None, checks=OBSERVE):
    return run_experiment(preset("smoke", attack=attack, checks=checks), QUIET)


@pytest.fixture(scope="module")
def explicit():
    return _run(ExplicitBoosting())


def _gaps(run, malicious: bool) -> list[float]:
    frame = checks_frame(run)
    rows = frame[(frame["check"] == AccuracyCheck.name) & (frame["is_malicious"] == malicious)]
    return rows["statistic"].tolist()


def test_explicit_boosting_is_caught_by_both_checks_and_honest_agents_are_not(explicit):
    rates = detection_rates(explicit)
    assert (rates["detection_rate"] == 1.0).all()  # every round, both checks
    assert (rates["false_positive_rate"] == 0.0).all()
    assert min(_gaps(explicit, malicious=True)) > 0.3  # its model w_G + δ_m is near chance on held-out data
    assert max(_gaps(explicit, malicious=False)) < 0.1


def test_alternating_minimisation_hides_from_the_accuracy_check_far_better(explicit):
    alternating = _run(AlternatingMinimisation())
    for stealthy_gap, boosted_gap in zip(_gaps(alternating, True), _gaps(explicit, True), strict=True):
        assert stealthy_gap < boosted_gap / 3
    assert _gaps(alternating, True)[0] < AccuracyCheck().gamma  # passes in round 1


def test_observing_is_free_and_filtering_stops_explicit_boosting(explicit):
    unchecked = _run(ExplicitBoosting(), checks=None)
    assert torch.equal(unchecked.final_params, explicit.final_params)
    assert [r.target_confidence for r in unchecked.records] == [r.target_confidence for r in explicit.records]
    filtered = _run(ExplicitBoosting(), checks=FILTER)
    assert not any(a.aggregated for r in filtered.records for a in r.agents if a.is_malicious)
    assert all(a.aggregated for r in filtered.records for a in r.agents if not a.is_malicious)
    assert explicit.records[-1].target_confidence > 0.8
    assert max(r.target_confidence for r in filtered.records) < 0.3
