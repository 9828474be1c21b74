"""Tables across runs: confidence over seeds, the malicious model, update distances."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from fedutils.analysis import (
    accuracy_loss,
    attacker_share,
    confidence_at_rounds,
    confidence_over_seeds,
    defense_outcomes,
    goal_met,
    grid_table,
    krum_ranking,
    update_statistics_table,
)
from fedutils.book.tables import (
    attack_outcome,
    checked_distance_table,
    detection_table,
    distance_table,
    goal_table,
    malicious_table,
    mean_pm_sd,
)
from fedutils.checks import distance_ranges
from fedutils.errors import ConfigError
from fedutils.models import build_model, weight_mask
from fedutils.records import AgentRecord, RoundRecord, RunResult
from fedutils.training import TargetOutcome


def _run(seed: int, confidences: list[float], with_updates: bool = False) -> RunResult:
    records = []
    for t, confidence in enumerate(confidences, start=1):
        target = (TargetOutcome(5454, 5, 7, confidence, 7 if confidence > 0.5 else 5, 0.9),)
        agents = (
            AgentRecord(0, False, 1.0, 0.80, 0.01),
            AgentRecord(1, False, 1.2, 0.82, 0.02),
            AgentRecord(2, False, 1.1, 0.84, 0.01),
            AgentRecord(3, True, 9.0, 0.10, 1.0),
        )
        records.append(RoundRecord(t, 0.8, 0.5, target, agents, 1.0))
    updates = {}
    if with_updates:
        updates = {1: torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [0.0, -1.0]])}
    return RunResult({"seed": seed}, records, updates=updates)


def test_confidence_at_rounds_and_over_seeds():
    runs = [_run(0, [0.1, 0.5, 0.9]), _run(1, [0.3, 0.7, 1.0])]
    per_seed = confidence_at_rounds(runs, [2, 3])
    assert per_seed.loc[1, 3] == pytest.approx(1.0) and list(per_seed.index) == [0, 1]
    summary = confidence_over_seeds({"attack": runs, "one seed": runs[:1]}, [2, 3])
    assert summary.loc["attack", (2, "mean")] == pytest.approx(0.6)
    assert summary.loc["attack", (2, "sd")] == pytest.approx(math.sqrt(0.02))
    assert math.isnan(summary.loc["one seed", (2, "sd")])
    formatted = mean_pm_sd(summary, [2, 3])
    assert formatted.loc["attack", "t = 2"] == "0.60 ± 0.14" and formatted.loc["one seed", "t = 2"] == "0.50"


def test_a_run_that_stopped_early_is_named():
    with pytest.raises(ConfigError, match="seed 4 stopped after 2 rounds, before round"):
        confidence_at_rounds([_run(4, [0.1, 0.2])], [2, 3])


def test_malicious_and_distance_tables():
    run = _run(0, [0.2], with_updates=True)
    table = malicious_table({"attack": run})
    assert table.loc[1, ("attack", "malicious acc. (%)")] == pytest.approx(10.0)
    assert table.loc[1, ("attack", "benign acc., mean (%)")] == pytest.approx(82.0)
    assert table.loc[1, ("attack", "global model's conf.")] == pytest.approx(0.2)
    distances = distance_table({"attack": run}, 1)
    assert distances.loc["benign–benign distance, min–max", "attack"] == "3.00 – 5.00"
    assert distances.loc["malicious–benign distance, min–max", "attack"] == "1.00 – 5.00"


def test_the_checked_distances_are_the_kept_updates_ranges_over_the_parameters_the_check_compares(checked_run):
    mask = weight_mask(build_model(checked_run.config.model))  # the check's default: kernels only
    for t in (1, 2):
        benign, malicious = checked_run.benign_and_malicious_updates(t)
        expected = distance_ranges(benign, malicious, mask)
        table = checked_distance_table({"attack": checked_run}, t)
        assert table.loc["benign–benign distance, min–max", "attack"] == (
            f"{expected.band_min:.2f} – {expected.band_max:.2f}"
        )
        assert table.loc["malicious–benign distance, min–max", "attack"] == (
            f"{expected.update_min:.2f} – {expected.update_max:.2f}"
        )
    unmasked = distance_table({"attack": checked_run}, 2).loc["malicious–benign distance, min–max", "attack"]
    assert (
        unmasked
        != checked_distance_table({"attack": checked_run}, 2).loc["malicious–benign distance, min–max", "attack"]
    )


def test_checked_distances_need_the_distance_check_and_a_round_the_attacker_was_in(checked_run):
    with pytest.raises(ConfigError, match="not observed by the distance check"):
        checked_distance_table({"unchecked": _run(0, [0.2])}, 1)
    with pytest.raises(ConfigError, match="no attacker's update in round 9"):
        checked_distance_table({"attack": checked_run}, 9)


def test_attack_outcome_reads_the_headline_numbers():
    attacked = _run(0, [0.2, 0.95, 0.99])
    honest = _run(0, [0.0, 0.0])
    row = attack_outcome(attacked, honest, rounds=(2, 4))
    assert row["confidence at t = 2"] == "0.95" and row["confidence at t = 4"] == "–"
    assert row["first round with confidence ≥ 0.9"] == "2"
    assert row["malicious model's accuracy, mean"] == "10.0%" and row["benign models' accuracy, mean"] == "82.0%"
    assert row["largest accuracy loss vs no attack"] == "0.00 points (round 1)"
    assert attack_outcome(_run(0, [0.1]))["first round with confidence ≥ 0.9"] == "not reached"


def test_goal_needs_both_a_confident_target_and_the_accuracy_kept():
    attacked, honest = _run(0, [0.2, 0.95, 0.99, 0.95]), _run(0, [0.0, 0.0, 0.0])
    attacked.records[1] = dataclasses.replace(attacked.records[1], val_accuracy=0.77)  # 3 points below
    assert goal_met(attacked, honest).tolist() == [False, False, True]  # low confidence; accuracy lost; both met
    assert goal_met(attacked, honest, accuracy_points=3.5).tolist() == [False, True, True]
    row = goal_table({"attack": attacked}, honest).loc["attack"]
    assert row["rounds with confidence ≥ 0.9 and ≤ 2 points lost"] == "1/3" and row["first such round"] == "3"
    assert row["accuracy lost at the last round"] == "0.0 points (round 3)"
    assert goal_table({"weak": _run(0, [0.1, 0.1])}, honest).loc["weak", "first such round"] == "none"


def test_accuracy_loss_is_per_shared_round_in_points():
    attacked, honest = _run(0, [0.2, 0.9, 0.9]), _run(0, [0.0, 0.0])
    honest.records[1] = dataclasses.replace(honest.records[1], val_accuracy=0.85)
    lost = accuracy_loss(attacked, honest)
    assert list(lost.index) == [1, 2] and lost.tolist() == pytest.approx([0.0, 5.0])


def test_detection_and_update_statistics_tables(checked_run):
    table = detection_table({"explicit boosting": checked_run})
    row = table.loc["explicit boosting"]
    assert row["accuracy check: malicious flagged"] == "2/2 (100%)"
    assert row["distance check: benign flagged"] == "0/18 (0%)"
    assert row["rounds"] == "2"
    stats = update_statistics_table({"explicit boosting": checked_run}, 2)
    assert list(stats.index.get_level_values(1)) == ["benign agent", "malicious agent"]
    malicious, benign = (
        stats.loc[("explicit boosting", "malicious agent")],
        stats.loc[("explicit boosting", "benign agent")],
    )
    assert malicious["norm"] > benign["norm"]  # boosted by λ = 10


def _rule_run(attacker: AgentRecord | None, benign_selected: bool | None = True) -> RunResult:
    """One round of three agents under a robust rule; the attacker (id 3) as given."""
    target = (TargetOutcome(5454, 5, 7, 0.3, 5, 0.6),)
    agents = tuple(AgentRecord(i, False, 1.0, 0.8, 0.01, selected=benign_selected) for i in range(3))
    agents += (attacker,) if attacker is not None else ()
    return RunResult({"seed": 0}, [RoundRecord(1, 0.8, 0.5, target, agents, 1.0)])


def test_attacker_share_reads_each_rules_record():
    chosen = attacker_share(_rule_run(AgentRecord(3, True, 9.0, 0.1, 0.9, selected=True), benign_selected=False))
    assert chosen.loc[1, "attacker_share"] == 1.0 and chosen.loc[1, "fair_share"] == 0.25  # Krum chose it
    ignored = attacker_share(_rule_run(AgentRecord(3, True, 9.0, 0.1, 0.9, selected=False)))
    assert ignored.loc[1, "attacker_share"] == 0.0
    averaged = attacker_share(_rule_run(AgentRecord(3, True, 9.0, 0.1, 0.9), benign_selected=None))
    assert averaged.loc[1, "attacker_share"] == 0.25  # plain FedAvg records no selection: 1/n
    median = attacker_share(_rule_run(AgentRecord(3, True, 9.0, 0.1, 0.9, selected=True, coordinate_share=0.07)))
    assert median.loc[1, "attacker_share"] == pytest.approx(0.07)
    filtered = attacker_share(_rule_run(AgentRecord(3, True, 9.0, 0.1, 0.9, aggregated=False, selected=False)))
    assert filtered.loc[1, "attacker_share"] == 0.0 and filtered.loc[1, "fair_share"] == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="no malicious agent"):
        attacker_share(_rule_run(None))


def test_defense_outcomes_has_one_row_per_grid_cell():
    runs = {
        ("explicit boosting", "krum"): _run(0, [0.1, 0.9, 0.7]),
        ("none", "krum"): _rule_run(None),
    }
    outcomes = defense_outcomes(runs)
    assert list(outcomes.index.names) == ["attack", "rule"]
    row = outcomes.loc[("explicit boosting", "krum")]
    assert row["final_target_confidence"] == pytest.approx(0.7)
    assert row["highest_target_confidence"] == pytest.approx(0.9)
    assert row["rounds"] == 3 and row["attacker_share"] == pytest.approx(0.25)
    assert math.isnan(outcomes.loc[("none", "krum"), "attacker_share"])


def _krum_run(attacker_update: list[float]) -> RunResult:
    honest = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]
    target = (TargetOutcome(5454, 5, 7, 0.3, 5, 0.6),)
    agents = tuple(AgentRecord(i, i == 5, 1.0, None) for i in range(6))
    updates = {1: torch.tensor([*honest, attacker_update])}
    return RunResult({"seed": 0}, [RoundRecord(1, 0.8, 0.5, target, agents, 1.0)], updates=updates)


def test_krum_ranking_places_a_far_update_last_and_a_central_one_first():
    far = krum_ranking(_krum_run([9.0, 9.0])).loc[1]
    assert far["attacker_rank"] == 6 and far["score_ratio"] > 1
    assert far["attacker_norm"] == pytest.approx(9 * math.sqrt(2))
    central = krum_ranking(_krum_run([0.0, 0.0])).loc[1]
    assert central["attacker_rank"] == 1 and central["score_ratio"] < 1
    with pytest.raises(ConfigError, match="kept no updates"):
        krum_ranking(_run(0, [0.1]))


def test_grid_table_keeps_the_order_the_runs_were_given_in():
    runs = {(attack, rule): _run(0, [0.5]) for attack in ("none", "explicit") for rule in ("median", "FedAvg")}
    table = grid_table(defense_outcomes(runs), "final_target_confidence")
    assert list(table.index) == ["none", "explicit"] and list(table.columns) == ["median", "FedAvg"]
    assert (table == 0.5).all().all()
