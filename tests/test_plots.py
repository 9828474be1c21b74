"""Every figure function returns a labelled figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from fedutils import plots
from fedutils.data.targets import PAPER_TARGET, make_target_set
from fedutils.results import AgentRecord, RoundRecord, RunResult
from fedutils.training import TargetOutcome


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
