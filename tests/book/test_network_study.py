"""The network study's summaries, on a hand-made study whose numbers are known."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest

from fedutils.book import plots
from fedutils.book.network_study import (
    GOAL_ACCURACY_LOST,
    GOAL_CONFIDENCE,
    MODEL_A,
    NOT_TIMED,
    OTHER_TARGETS,
    Curves,
    load_network_screen,
    load_network_sizes,
    load_network_study,
    model_a_reference,
    screening_table,
    seed_outcome,
    study_table,
    targets_table,
)
from fedutils.book.recorded import recorded_run
from fedutils.models import FastCNN, ModelA, count_parameters
from tools import network_study as study_tool


def _curves(accuracy, confidence):
    return {"accuracy": list(accuracy), "confidence": list(confidence)}


def _entry(confidence_t4, attacked_accuracy, boost1):
    runs = {}
    for seed, top in enumerate(confidence_t4):
        runs[f"explicit_s{seed}"] = _curves([0.80, 0.82, 0.84, attacked_accuracy], [0.2, 0.5, 0.7, top])
        runs[f"fedavg_s{seed}"] = _curves([0.84, 0.86, 0.88, 0.89, 0.895], [0.01] * 5)
    runs["explicit_boost1_s0"] = _curves([0.84, 0.86, 0.88, 0.885], boost1)
    return {"description": "a network", "parameters": 1000, "runs": runs, "ms_per_step": 2.5, "seconds_per_round": 9.0}


@pytest.fixture
def study(tmp_path):
    chosen = _entry([0.9, 1.0, 0.95], 0.86, [0.05, 0.02, 0.01, 0.0])
    chosen["targets"] = {}
    for target in OTHER_TARGETS:
        for seed in range(3):
            chosen["targets"][f"{target}_explicit_s{seed}"] = _curves(
                [0.8, 0.83, 0.85, 0.875 + 0.005 * seed], [0.3, 0.6, 0.8, 0.9 + 0.01 * seed]
            )
        chosen["targets"][f"{target}_explicit_boost1_s0"] = _curves([0.85, 0.86, 0.87, 0.88], [0.1, 0.05, 0.02, 0.01])
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"other": _entry([0.5, 0.3, 0.1], 0.88, [0.2, 0.1, 0.0, 0.0]), "chosen": chosen}))
    return load_network_study(path)


def test_the_table_sums_up_each_candidate(study):
    table = study_table(study)
    assert list(table.index) == ["other", "chosen"]
    chosen = table.loc["chosen"]
    assert chosen["confidence t = 4"] == "0.95 ± 0.05"
    assert chosen["lowest seed, t = 4"] == 0.9
    assert chosen["accuracy lost at t = 4 (points)"] == pytest.approx(3.0)  # 89 % honest against 86 % attacked
    assert chosen["FedAvg: first round ≥ 89 %"] == 4
    assert chosen["λ = 1: highest confidence"] == 0.05
    assert table.loc["other", "confidence t = 4"] == "0.30 ± 0.20"


def test_the_target_table_takes_the_paper_target_from_the_protocol_and_compares_with_fedavg(study):
    table = targets_table(study["chosen"])
    assert list(table.index) == ["5454:7", *(str(t) for t in OTHER_TARGETS)]  # the paper's target first
    paper, other = table.loc["5454:7"], table.loc[str(OTHER_TARGETS[0])]
    assert paper["accuracy lost at t = 4, mean (points)"] == pytest.approx(3.0)  # 89 % against 86 %
    assert other["accuracy lost at t = 4, mean (points)"] == pytest.approx(1.0)  # 89 % against 87.5–88.5 %
    assert other["accuracy lost at t = 4, worst seed (points)"] == pytest.approx(1.5)
    assert other["lowest seed, t = 4"] == 0.9 and other["mean confidence t = 4"] == 0.91
    assert paper["λ = 1: highest confidence"] == 0.05 and other["λ = 1: highest confidence"] == 0.1


def test_first_round_reaching_an_accuracy():
    curves = Curves((0.8, 0.885, 0.891), (0.0, 0.0, 0.0))
    assert curves.first_round_reaching(0.89) == 3
    assert curves.first_round_reaching(0.95) is None


def test_the_figure_has_both_panels_and_a_legend(study):
    fig = plots.network_study(study, chosen="chosen", talk={2: 0.63, 3: 0.93, 4: 0.99})
    left, right = fig.axes
    assert "confidence" in left.get_ylabel() and "%" in right.get_ylabel()
    assert fig.legends and len(left.lines) == 3  # two candidates and the talk
    plt.close(fig)


def test_the_recorded_study_names_the_fast_network():
    study = load_network_study()
    chosen = study["c4k5s2p2h256d0.25"]
    assert chosen.parameters == count_parameters(FastCNN())
    assert {f"explicit_s{s}" for s in range(3)} <= set(chosen.runs)
    assert len(targets_table(chosen)) == 1 + len(OTHER_TARGETS)  # every run of the five-target claim is there


@pytest.fixture
def screen(tmp_path):
    """Two screened candidates: seed 0's explicit-boosting and FedAvg runs only, four rounds each."""

    def screened(description, parameters, attacked_accuracy, confidence):
        honest = _curves([0.84, 0.86, 0.88, 0.89], [0.01] * 4)
        runs = {"explicit_s0": _curves(attacked_accuracy, confidence), "fedavg_s0": honest}
        return {"description": description, "parameters": parameters, "runs": runs}

    entries = {
        "strong": screened("a strong backdoor", 1000, [0.80, 0.82, 0.84, 0.85], [0.2, 0.9, 0.95, 0.97]),
        "gentle": screened("a harmless update", 900, [0.83, 0.86, 0.875, 0.885], [0.1, 0.2, 0.3, 0.4]),
    }
    path = tmp_path / "screen.json"
    path.write_text(json.dumps(entries))
    return load_network_screen(path)


def test_one_seed_s_outcome_is_the_confidence_and_the_points_lost_against_fedavg(screen):
    confidence, lost = seed_outcome(screen["strong"])
    assert confidence == 0.97 and lost == pytest.approx(4.0)  # 89 % honest against 85 % attacked, round 4
    confidence, lost = seed_outcome(screen["gentle"], at_round=2)
    assert confidence == 0.2 and lost == pytest.approx(0.0)


def test_the_screening_table_reads_seed_0_and_takes_the_study_s_candidates_too(screen, study):
    table = screening_table(study | screen)
    assert list(table.index) == ["other", "chosen", "strong", "gentle"]
    assert table.loc["strong", "confidence t = 2"] == 0.9 and table.loc["strong", "confidence t = 4"] == 0.97
    assert table.loc["strong", "accuracy lost at t = 4 (points)"] == pytest.approx(4.0)
    assert table.loc["gentle", "accuracy lost at t = 4 (points)"] == pytest.approx(0.5)
    assert table.loc["chosen", "confidence t = 4"] == 0.9  # the study's seed 0, not its mean
    assert table.loc["chosen", "ms per local step (1 thread)"] == 2.5 and table.loc["strong", "parameters"] == 1000
    assert table.loc["chosen", "s per FedAvg round"] == 9.0 and table.loc["strong", "s per FedAvg round"] == NOT_TIMED


def test_the_tradeoff_figure_marks_every_candidate_and_the_goal(screen, study):
    fig = plots.network_tradeoff(study | screen, chosen="chosen")
    (ax,) = fig.axes
    assert len(ax.collections) == 1 + 4  # the goal's corner, then one point per candidate
    assert fig.legends and "points" in ax.get_xlabel() and "confidence" in ax.get_ylabel()
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert "chosen (the fast preset)" in labels and any(str(GOAL_CONFIDENCE) in label for label in labels)
    corner = ax.collections[0].get_paths()[0].get_extents()
    assert corner.x1 == pytest.approx(GOAL_ACCURACY_LOST) and corner.y0 == pytest.approx(GOAL_CONFIDENCE)
    plt.close(fig)


def test_the_recorded_screenings_ran_the_screening_protocol_on_other_networks():
    screen, sizes, study = load_network_screen(), load_network_sizes(), load_network_study()
    assert screen and sizes and not set(screen) & set(study) and not set(sizes) & (set(screen) | set(study))
    for candidate in (screen | sizes).values():
        assert {"explicit_s0", "fedavg_s0"} <= set(candidate.runs)  # some ran on seeds 1-2 as well
        assert all(len(run.accuracy) == 4 for run in candidate.runs.values())
        assert candidate.ms_per_step is not None


def test_model_a_joins_the_candidates_with_its_recorded_seed_0_runs():
    explicit, fedavg = recorded_run("explicit_boosting_paper_seed0"), recorded_run("fedavg_paper_seed0")
    reference = model_a_reference(explicit, fedavg, ms_per_step=100.0)
    assert reference.name == MODEL_A and reference.parameters == count_parameters(ModelA()) == 3_382_346
    confidence, lost = seed_outcome(reference)
    assert confidence == explicit.records[3].target_confidence
    assert lost == pytest.approx(100 * (fedavg.records[3].val_accuracy - explicit.records[3].val_accuracy))
    assert confidence >= GOAL_CONFIDENCE and lost <= GOAL_ACCURACY_LOST  # the corner the CPU networks aim at
    assert screening_table({MODEL_A: reference}).loc[MODEL_A, "ms per local step (1 thread)"] == 100.0


def test_the_size_figure_puts_every_candidate_on_both_panels_unless_untimed(screen, study):
    fig = plots.network_size(study | screen)
    cost, speed = fig.axes
    assert cost.get_xscale() == speed.get_xscale() == "log" and "parameters" in cost.get_xlabel()
    assert len(cost.collections) == 4 and len(speed.collections) == 2  # the screening's two have no step time
    assert [text.get_text() for text in cost.texts] == ["0.50", "0.90", "0.97", "0.40"]  # seed 0 at t = 4
    assert cost.lines[0].get_ydata()[0] == GOAL_ACCURACY_LOST and len(fig.legends[0].get_texts()) == 4 + 1
    plt.close(fig)


def test_the_recorded_screening_finds_the_attack_s_cost_falling_with_the_dense_layer_s_size():
    """The appendix's claim: the fast network's shape with a dense layer of 256, 1,024 and 4,096 units loses
    less accuracy to explicit boosting the more parameters it has, and only the largest nears the goal."""
    candidates = load_network_study() | load_network_sizes()
    series = [candidates[f"c4k5s2p2h{hidden}d0.25"] for hidden in (256, 1024, 4096)]
    assert [c.parameters for c in series] == sorted(c.parameters for c in series)
    lost = [seed_outcome(c)[1] for c in series]
    assert lost == sorted(lost, reverse=True) and lost[0] > 2 * GOAL_ACCURACY_LOST > lost[-1]
    assert all(seed_outcome(c)[0] >= GOAL_CONFIDENCE for c in series)


@pytest.mark.parametrize(
    ("timing", "expected"),
    [("NOTHING", {}), ("STEP", {"ms_per_step": 1.5}), ("ROUND", {"ms_per_step": 1.5, "seconds_per_round": 9.0})],
)
def test_the_study_script_takes_only_the_timing_asked_for(monkeypatch, timing, expected):
    script = study_tool
    monkeypatch.setattr(script, "step_milliseconds", lambda base: 1.5)
    monkeypatch.setattr(script, "timings", lambda base: {"ms_per_step": 1.5, "seconds_per_round": 9.0})
    monkeypatch.setattr(script, "curves", lambda config: pytest.fail("a run already in the entry ran again"))
    plan = script.screening_protocol()
    entry = {"runs": dict.fromkeys(plan, "recorded")}
    saves = []
    script.study("c4k5s2p2h256d0.25", entry, lambda: saves.append(1), script.Timing[timing], plan)
    assert {k: v for k, v in entry.items() if k in ("ms_per_step", "seconds_per_round")} == expected
    assert entry["parameters"] == count_parameters(FastCNN()) and len(saves) == (timing != "NOTHING")
