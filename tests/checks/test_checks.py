"""The server's checks (SPEC §6) on hand-made updates: distance ranges, accuracy checking, statistics, modes."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from fedutils.aggregators import FedAvg, ServerRule
from fedutils.analysis import checks_frame, detection_rates, flags_per_round, rates_at_thresholds
from fedutils.checks import (
    AccuracyCheck,
    CheckMode,
    DistanceCheck,
    RoundUpdates,
    ServerChecks,
    ServerResources,
    check_options,
    distance_ranges,
    update_statistics,
)
from fedutils.errors import ConfigError
from fedutils.records import AgentRecord, CheckRecord, RoundRecord, RunResult
from fedutils.training import TargetOutcome

TARGET = TargetOutcome(index=5454, true_class=5, target_class=7, confidence=0.1, predicted=5, predicted_confidence=0.8)


def test_ranges_on_a_hand_computed_example():
    benign = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # pairwise: 3, 4, 5
    malicious = torch.tensor([0.0, -1.0])  # to each benign: 1, √10, 5
    ranges = distance_ranges(benign, malicious)
    assert (ranges.band_min, ranges.band_max) == pytest.approx((3.0, 5.0))
    assert (ranges.update_min, ranges.update_max) == pytest.approx((1.0, 5.0))
    assert ranges.relative_excess == pytest.approx((3.0 - 1.0) / 5.0)  # it sticks out below the band by 2


def test_mask_restricts_the_comparison():
    benign = torch.tensor([[0.0, 0.0], [1.0, 100.0]])
    malicious = torch.tensor([2.0, -100.0])
    ranges = distance_ranges(benign, malicious, mask=torch.tensor([True, False]))
    assert (ranges.band_min, ranges.update_min, ranges.update_max) == pytest.approx((1.0, 1.0, 2.0))


def test_a_boosted_update_lies_outside_the_benign_range():
    generator = torch.Generator().manual_seed(0)
    benign = 0.01 * torch.randn(9, 1000, generator=generator)
    ranges = distance_ranges(benign, 10 * benign[0])
    assert ranges.update_min > ranges.band_max


def test_needs_two_benign_updates():
    with pytest.raises(ValueError, match="at least two"):
        distance_ranges(torch.zeros(1, 3), torch.zeros(3))


# --- the checks on a round of hand-made updates -------------------------------------------------------------


def _server(accuracy=lambda params: 1.0, mask=None, size=50):
    """A server whose held-out accuracy of a model is ``accuracy(params)``."""
    mask = torch.ones(size, dtype=torch.bool) if mask is None else mask
    return ServerResources(lambda stack: [accuracy(params) for params in stack], ServerRule(FedAvg()), mask)


def _round(updates: torch.Tensor) -> RoundUpdates:
    return RoundUpdates(torch.zeros(updates.shape[1]), updates, torch.full((len(updates),), 1 / len(updates)))


def _honest_round(n: int = 10, size: int = 50, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.ones(size) + 0.1 * torch.randn(n, size, generator=generator)


def test_distance_check_flags_a_known_outlier_and_no_honest_update():
    updates = _honest_round()
    updates[9] *= 5  # boosted
    verdicts = DistanceCheck().inspect(_round(updates), _server())
    assert [v.flagged for v in verdicts] == [False] * 9 + [True]
    assert verdicts[9].measurements["update_min"] > verdicts[9].measurements["band_max"]


def test_identical_updates_pass_both_checks():
    updates = torch.ones(5, 50)
    for check in (DistanceCheck(), AccuracyCheck()):
        verdicts = check.inspect(_round(updates), _server())
        assert not any(v.flagged for v in verdicts)
        assert all(v.statistic == 0 for v in verdicts)


def test_distance_to_identical_others_is_an_infinite_excess():
    updates = torch.ones(4, 50)
    updates[0] += 1e-3
    verdicts = DistanceCheck(kappa=1e6).inspect(_round(updates), _server())
    assert math.isinf(verdicts[0].statistic) and verdicts[0].flagged
    assert not verdicts[1].flagged  # the others see it inside their band, which it widens


def test_distance_check_uses_weights_only_when_asked():
    updates = _honest_round(size=4)
    updates[9, 3] = 100.0  # an outlier in a "bias"
    mask = torch.tensor([True, True, True, False])
    assert not DistanceCheck(weights_only=True).inspect(_round(updates), _server(mask=mask))[9].flagged
    assert DistanceCheck(weights_only=False).inspect(_round(updates), _server(mask=mask))[9].flagged


def _accuracy_falls_with_distance_from_one(params: torch.Tensor) -> float:
    """A stand-in for held-out accuracy: 1 at the honest optimum (all ones), falling with the distance to it."""
    return max(0.0, 1.0 - (params - 1).abs().mean().item())


def test_accuracy_check_compares_each_update_with_the_others_aggregate():
    updates = torch.ones(5, 50)
    updates[4] = -1.0  # w_G + δ_4 is far from the optimum: accuracy 0; the others' aggregate: 1 − 0.2 = 0.8
    verdicts = AccuracyCheck(gamma=0.1).inspect(_round(updates), _server(_accuracy_falls_with_distance_from_one))
    assert verdicts[4].flagged
    assert verdicts[4].measurements == pytest.approx({"accuracy": 0.0, "others_accuracy": 0.8})
    assert verdicts[4].statistic == pytest.approx(0.8)
    assert not any(v.flagged for v in verdicts[:4])  # their aggregates include δ_4, so they look better than them


def test_accuracy_check_threshold_is_strict():
    updates = torch.ones(5, 50)
    updates[4] = 0.5  # accuracy 0.5; others' aggregate (sum of 4 × 0.2) 0.8 → gap 0.3
    check_at = lambda gamma: AccuracyCheck(gamma=gamma).inspect(  # noqa: E731
        _round(updates), _server(_accuracy_falls_with_distance_from_one)
    )[4]
    assert check_at(0.29).flagged and not check_at(0.31).flagged


def test_filter_mode_keeps_only_what_passes_and_observe_keeps_everything():
    updates = _honest_round()
    updates[9] *= 5
    observe = ServerChecks(checks=(DistanceCheck(),)).inspect(_round(updates), _server())
    filtered = ServerChecks(checks=(DistanceCheck(),), mode=CheckMode.FILTER).inspect(_round(updates), _server())
    assert observe.keep.all()
    assert filtered.keep.tolist() == [True] * 9 + [False]
    assert filtered.verdicts["distance"][9].flagged


def test_an_update_flagged_by_any_check_is_dropped():
    updates = torch.ones(5, 50)
    updates[4] = -1.0
    checks = ServerChecks(checks=(AccuracyCheck(), DistanceCheck(kappa=1e9)), mode="filter")
    inspection = checks.inspect(_round(updates), _server(_accuracy_falls_with_distance_from_one))
    assert inspection.keep.tolist() == [True, True, True, True, False]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AccuracyCheck(gamma=10), "gamma"),
        (lambda: AccuracyCheck(gamma="x"), "gamma"),
        (lambda: DistanceCheck(kappa=-1), "kappa"),
        (lambda: DistanceCheck(weights_only="yes"), "weights_only"),
        (lambda: ServerChecks(checks=()), "at least one"),
        (lambda: ServerChecks(checks=(DistanceCheck(), DistanceCheck(kappa=1))), "once"),
        (lambda: ServerChecks(checks=("accuracy",)), "check options"),
        (lambda: ServerChecks(mode="block"), "observe, filter"),
        (lambda: ServerChecks(held_out_samples=0), "held_out_samples"),
        (lambda: check_options("norm"), "accuracy, distance"),
        (lambda: check_options("accuracy", kappa=1), "kappa does not apply to the accuracy check"),
        (lambda: ServerChecks().replace(gamma=0.2), "gamma does not apply to the server's checks"),
    ],
)
def test_bad_options_are_one_sentence(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_server_checks_round_trip_through_a_dict():
    checks = ServerChecks(checks=(DistanceCheck(kappa=0.3, weights_only=False),), mode="filter", held_out_samples=500)
    assert ServerChecks.from_dict(checks.to_dict()) == checks
    assert checks.reserved_samples == 0  # no accuracy check, so no test data is set aside
    assert ServerChecks().reserved_samples == 1000


# --- statistics and detection rates ----------------------------------------------------------------------------


def test_update_statistics_tell_a_gaussian_from_a_sparse_boosted_update():
    generator = torch.Generator().manual_seed(0)
    dense = torch.randn(100_000, generator=generator)
    sparse = torch.zeros(100_000)
    sparse[:100] = 10.0
    stats = update_statistics(torch.stack([dense, sparse]))
    assert stats.loc[0, "kurtosis"] == pytest.approx(0.0, abs=0.1)
    assert stats.loc[1, "kurtosis"] > 100
    assert stats.loc[0, "sparsity"] == 0 and stats.loc[1, "sparsity"] == pytest.approx(0.999)
    assert stats.loc[1, "norm"] == pytest.approx(100.0)
    assert stats.loc[1, "max_abs"] == 10.0
    masked = update_statistics(torch.stack([dense, sparse]), mask=torch.arange(100_000) < 100)
    assert masked.loc[1, "sparsity"] == 0


def _record(round_index, flags):
    """A round where agent 2 is the attacker; ``flags`` is per check a tuple of three flagged booleans."""
    agents = tuple(AgentRecord(i, i == 2, 1.0, None) for i in range(3))
    checks = tuple(
        CheckRecord(name, i, i == 2, flag, 0.0, 0.1) for name, row in flags.items() for i, flag in enumerate(row)
    )
    return RoundRecord(round_index, 0.9, 0.3, (TARGET,), agents, 1.0, checks)


def test_detection_rates_count_true_and_false_positives():
    run = RunResult(
        {},
        [
            _record(1, {"accuracy": (False, False, True), "distance": (True, False, True)}),
            _record(2, {"accuracy": (False, False, True), "distance": (False, False, False)}),
        ],
    )
    rates = detection_rates(run)
    assert rates.loc["accuracy"].to_dict() == pytest.approx(
        {
            "attacker_rounds": 2,
            "attacker_flagged": 2,
            "detection_rate": 1.0,
            "benign_checked": 4,
            "benign_flagged": 0,
            "false_positive_rate": 0.0,
        }
    )
    assert rates.loc["distance", "detection_rate"] == 0.5
    assert rates.loc["distance", "false_positive_rate"] == 0.25
    per_round = flags_per_round(run)
    assert per_round["accuracy: malicious flagged"].tolist() == [True, True]
    assert per_round["distance: malicious flagged"].tolist() == [True, False]
    assert per_round["distance: benign flagged"].tolist() == [1, 0]


def test_rates_at_other_thresholds_come_from_the_recorded_statistics():
    agents = tuple(AgentRecord(i, i == 2, 1.0, None) for i in range(3))
    checks = tuple(
        CheckRecord("accuracy", i, i == 2, False, statistic, 0.1) for i, statistic in enumerate((0.0, 0.2, 0.5))
    )
    run = RunResult({}, [RoundRecord(1, 0.9, 0.3, (TARGET,), agents, 1.0, checks)])
    rates = rates_at_thresholds(run, "accuracy", [0.1, 0.3, 0.6])
    assert rates["detection_rate"].tolist() == [1.0, 1.0, 0.0]
    assert rates["false_positive_rate"].tolist() == [0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match="no records of the distance check"):
        rates_at_thresholds(run, "distance", [0.1])
    pooled = rates_at_thresholds([run, run], "accuracy", [0.1])  # every verdict counts, twice here
    assert pooled.loc[0.1].tolist() == [1.0, 0.5]


def test_detection_rates_need_check_records():
    with pytest.raises(ValueError, match="no check records"):
        detection_rates(RunResult({}, [_record(1, {})]))


def test_check_records_survive_json():
    run = RunResult({}, [_record(1, {"distance": (True, False, True)})])
    again = RunResult.from_json_dict(run.to_json_dict())
    assert again.records == run.records
    frame = checks_frame(again)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3 and set(frame["check"]) == {"distance"}
