"""Every figure function returns a labelled figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from fedutils.analysis.interpret import similarity_summary
from fedutils.book import plots
from fedutils.data.targets import PAPER_TARGET, make_target_set
from fedutils.errors import ConfigError
from fedutils.records import AgentRecord, RoundRecord, RunResult
from fedutils.training import TargetOutcome


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def run() -> RunResult:
    target = (TargetOutcome(5454, 5, 7, 0.01, 5, 0.99),)
    records = [
        RoundRecord(t, 0.8 + t / 100, 0.5, target, (AgentRecord(0, False, 1.0, 0.8), AgentRecord(1, True, 9.0, 0.3)), 1)
        for t in (1, 2, 3)
    ]
    return RunResult({"stop_accuracy": 0.9}, records)


def _labelled(fig) -> None:
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_accuracy_figures_have_units_and_legends(run):
    fig = plots.validation_accuracy({"a": run, "b": run}, stop_accuracy=0.9)
    _labelled(fig)
    assert "(%)" in fig.axes[0].get_ylabel()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "stop at 90 %"]
    fig = plots.agent_accuracies(run)
    _labelled(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("malicious" in label for label in labels) and any("benign" in label for label in labels)


def test_class_counts_and_targets(fmnist):
    counts = np.full((3, 10), 600)
    fig = plots.class_counts_per_agent(counts, fmnist.class_names)
    _labelled(fig)
    assert "6,000 per agent" in fig.axes[0].get_title()
    fig = plots.target_examples(make_target_set(fmnist.test, [PAPER_TARGET], fmnist.class_names), fmnist.class_names)
    assert "Sandal → Sneaker" in fig.axes[0].get_title()


def test_target_confidence_and_confidence_over_seeds(run):
    fig = plots.target_confidence({"attack": run})
    _labelled(fig)
    assert fig.axes[0].get_ylim() == pytest.approx((-0.03, 1.03))
    other = RunResult(run.config.replace(seed=1), run.records)
    fig = plots.confidence_over_seeds({"attack": [run, other]}, reference={"paper": {2: 0.6, 3: 0.9}})
    _labelled(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["attack (mean of 2)", "paper"]


def test_update_histograms_compare_a_benign_and_the_malicious_update(run):
    run.updates = {2: torch.tensor([[0.01, -0.02, 0.0], [0.5, -0.5, 0.3]])}
    fig = plots.update_histograms({"explicit boosting": run, "again": run}, 2)
    assert len(fig.axes) == 2 and "round 2" in fig.axes[0].get_title()
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    with pytest.raises(ConfigError, match="round 3's updates were not kept"):
        plots.update_histograms({"x": run}, 3)
    benign_only = (AgentRecord(0, False, 1.0, 0.8), AgentRecord(1, False, 1.0, 0.8))
    honest = RunResult({}, [RoundRecord(1, 0.8, 0.5, run.records[0].targets, benign_only, 1)])
    honest.updates = {1: torch.zeros(2, 3)}
    with pytest.raises(ConfigError, match="has no malicious agent"):
        plots.update_histograms({"honest": honest}, 1)


def test_check_figures_are_labelled_and_mark_the_thresholds(checked_run):
    fig = plots.accuracy_check(checked_run)
    _labelled(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["benign agents", "malicious agent", "γ = 10 points (flag above)"]
    fig = plots.distance_band(checked_run)
    _labelled(fig)
    assert "weights only" in fig.axes[0].get_ylabel()
    assert any("κ" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert len(plots.stealth_panels(checked_run, "explicit boosting").axes) == 2
    fig = plots.detection_tradeoff({"explicit": checked_run}, "accuracy", [0.0, 0.1, 0.5, 1.0])
    _labelled(fig)
    detected = fig.axes[0].get_lines()[0].get_ydata()
    assert list(detected) == [100, 100, 100, 0]  # its gaps are above 0.5 and below 1
    fig = plots.honest_check_statistics([checked_run])
    assert len(fig.axes) == 2 and all(ax.get_xlabel() for ax in fig.axes)


def test_check_figures_need_check_records(run):
    with pytest.raises(ConfigError, match="no records of the accuracy check"):
        plots.accuracy_check(run)


def test_aggregation_picture_marks_every_rule_and_rejects_bad_points():
    generator = torch.Generator().manual_seed(0)
    benign = 1 + 0.3 * torch.randn(9, 2, generator=generator)
    fig = plots.aggregation_picture(
        benign, {"boosted": torch.tensor([-6.0, 8.0]), "stealthy": torch.tensor([0.3, 1.6])}
    )
    assert len(fig.axes) == 2 and all(ax.get_xlabel() and ax.get_title() for ax in fig.axes)
    labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert labels[3:] == list(plots.PICTURE_RULES)
    with pytest.raises(ConfigError, match="at least six 2-D points"):
        plots.aggregation_picture(torch.zeros(3, 2), {"x": torch.zeros(2)})


def test_robust_rounds_shows_confidence_accuracy_and_the_attackers_share(run):
    attacked = RunResult(
        {"seed": 0},
        [
            RoundRecord(t, 0.8, 0.5, run.records[0].targets, agents, 1)
            for t, agents in (
                (1, (AgentRecord(0, False, 1.0, 0.8, selected=True), AgentRecord(1, True, 9.0, 0.3, selected=False))),
                (2, (AgentRecord(0, False, 1.0, 0.8, selected=False), AgentRecord(1, True, 9.0, 0.3, selected=True))),
            )
        ],
    )
    fig = plots.robust_rounds({"attacked": attacked, "no attack": run}, title="Krum")
    share = fig.axes[2]
    assert all(ax.get_xlabel() and ax.get_ylabel() and ax.get_title() for ax in fig.axes)
    assert list(share.lines[0].get_ydata()) == [0.0, 100.0]  # Krum's choice: not the attacker, then the attacker
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # one legend for the three panels
    assert labels == ["attacked", "no attack", "fair share 1/n"]


def test_defense_matrix_and_security_curves_are_labelled():
    index = pd.MultiIndex.from_product([["none", "explicit"], ["fedavg", "krum"]], names=["attack", "rule"])
    outcomes = pd.DataFrame({"final_target_confidence": [0.0, 0.0, 0.9, 0.1], "final_accuracy": [0.9] * 4}, index)
    fig = plots.defense_matrix(outcomes, rounds=3)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["none", "explicit"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fedavg", "krum"]
    assert "after 3 rounds" in ax.get_title() and "0.90\n90.0 %" in [t.get_text() for t in ax.texts]
    sweep = pd.DataFrame(
        {"final_target_confidence": [0.1, 0.8, 0.0, 0.0]},
        pd.MultiIndex.from_product([["fedavg", "krum"], [1.0, 10.0]], names=["rule", "boost"]),
    )
    fig = plots.security_curves(sweep)
    _labelled(fig)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == ["fedavg", "krum"]
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.1, 0.8]


def test_attribution_grid_has_a_row_per_input_and_model_and_a_column_per_method():
    images = torch.rand(2, 1, 28, 28)
    maps = {
        "benign": {"gradient": torch.rand(2, 1, 28, 28), "lrp_z": torch.randn(2, 1, 28, 28)},
        "attacked": {"gradient": torch.rand(2, 1, 28, 28), "lrp_z": torch.randn(2, 1, 28, 28)},
    }
    captions = {"benign": ["sandal → sandal (0.9)", "shirt → shirt (0.8)"], "attacked": ["sandal → sneaker (1.0)", "x"]}
    fig = plots.attribution_grid(images, maps, captions, title="grid")
    assert len(fig.axes) == 4 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["input", "gradient", "lrp z"]
    assert "attacked" in fig.axes[3].get_ylabel() and "sneaker" in fig.axes[3].get_ylabel()
    assert fig.axes[1].images[0].get_cmap().name == "gray" and fig.axes[2].images[0].get_cmap().name == "bwr"


def test_attribution_similarity_plot_marks_the_target_apart_from_ordinary_inputs():
    index = pd.MultiIndex.from_product([["gradient", "lrp_z"], ["target", "1", "2"]], names=["method", "input"])
    table = pd.DataFrame({"spearman": [0.2, 0.9, 0.8, 0.5, 0.95, 0.9], "top_overlap": 0.5}, index)
    fig = plots.attribution_similarity(similarity_summary({"explicit": table}, target_label="target"))
    _labelled(fig)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.85, 0.925])
    assert list(ax.collections[-1].get_offsets()[:, 1]) == pytest.approx([0.2, 0.5])
    assert "Spearman" in ax.get_ylabel()


def _drawn_run(attacker_in: set[int]) -> RunResult:
    """Four rounds of two drawn agents; the attacker (id 9) among them in the rounds given."""
    records = []
    for t in range(1, 5):
        target = (TargetOutcome(5454, 5, 7, 0.9 if t in attacker_in else 0.1, 5, 0.9),)
        drawn = t in attacker_in
        agents = (AgentRecord(3, False, 1.0, None), AgentRecord(9 if drawn else 4, drawn, 5.0, None))
        records.append(RoundRecord(t, 0.5 + t / 10, 0.5, target, agents, 1))
    return RunResult({"seed": 0}, records)


def test_participation_shades_and_marks_the_attackers_rounds():
    attacked = _drawn_run({2, 4})
    assert attacked.attacker_rounds() == [2, 4]
    fig = plots.participation({"no attack": _drawn_run(set()), "explicit boosting": attacked}, title="k = 100")
    confidence = fig.axes[0]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    assert len(confidence.patches) == 2  # one shaded band per attacker round
    assert list(confidence.collections[1].get_offsets()[:, 0]) == [2, 4]  # crosses on the attacked curve
    assert "attacker drawn (×)" in [t.get_text() for t in fig.legends[0].get_texts()]
    renamed = plots.participation({"explicit boosting": attacked}, shaded_label="the attacker answered")
    assert "the attacker answered" in [t.get_text() for t in renamed.legends[0].get_texts()]


def test_attack_goal_draws_the_goal_line_and_the_accuracy_band():
    fig = plots.attack_goal({"explicit boosting": _drawn_run({2, 4})}, _drawn_run(set()), accuracy_points=3.0)
    confidence, accuracy = fig.axes
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    assert 0.9 in [line.get_ydata()[0] for line in confidence.lines]  # the confidence the goal asks for
    reference = [line for line in accuracy.lines if line.get_linestyle() == "--"]
    assert len(reference) == 1 and len(accuracy.collections) == 1  # the attack-free curve and its band
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["explicit boosting", "confidence 0.9", "no attack", "within 3 points"]


def test_targets_hit_and_distance_bands(checked_run):
    fig = plots.targets_hit({"explicit boosting": checked_run})
    _labelled(fig)
    assert fig.axes[0].lines[0].get_ydata().tolist() == [r.targets_hit for r in checked_run.records]
    fig = plots.distance_bands({"IID": checked_run, "again": checked_run})
    assert [ax.get_title() for ax in fig.axes] == ["IID", "again"]
    assert fig.axes[0].get_legend() is None and fig.axes[1].get_legend() is not None
