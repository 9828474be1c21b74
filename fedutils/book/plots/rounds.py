"""Figures of a federation round by round: accuracy, target confidence, agents, seeds and participation
(Chapters 1–2, 6, 9–11)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fedutils.analysis import agents_frame, rounds_frame
from fedutils.book.plots.style import label_per_round, legend_beside, new_axes
from fedutils.data.targets import TargetSet
from fedutils.records import RunResult


def class_counts_per_agent(counts: np.ndarray, class_names: Sequence[str], ax: Axes | None = None) -> Figure:
    """Heat map of how many examples of each class every agent holds.

    Args:
        counts: ``(num_agents, num_classes)`` as from :func:`fedutils.data.class_counts`.
        class_names: the name of each class.
    """
    fig, ax = new_axes(ax)
    image = ax.imshow(counts.T, aspect="auto", cmap="viridis")
    ax.grid(False)
    ax.set_xticks(range(counts.shape[0]))
    ax.set_yticks(range(counts.shape[1]), [f"{i} {name}" for i, name in enumerate(class_names)])
    ax.set_xlabel("agent")
    ax.set_ylabel("class")
    sizes = counts.sum(1)
    size_range = f"{sizes.min():,}" if sizes.min() == sizes.max() else f"{sizes.min():,}–{sizes.max():,}"
    ax.set_title(f"Training examples per class and agent ({size_range} per agent)")
    fig.colorbar(image, ax=ax, label="examples")
    for agent in range(counts.shape[0]):
        for label in range(counts.shape[1]):
            ax.text(agent, label, str(counts[agent, label]), ha="center", va="center", fontsize=6, color="white")
    return fig


def validation_accuracy(
    runs: Mapping[str, RunResult], stop_accuracy: float | None = None, ax: Axes | None = None
) -> Figure:
    """Global validation accuracy per round for one or more runs.

    Args:
        runs: legend label → run.
        stop_accuracy: draw the early-stopping threshold at this fraction.
    """
    fig, ax = new_axes(ax)
    for label, run in runs.items():
        frame = rounds_frame(run)
        ax.plot(frame.index, 100 * frame["val_accuracy"], marker="o", label=label)
    if stop_accuracy is not None:
        ax.axhline(100 * stop_accuracy, color="grey", linestyle="--", label=f"stop at {100 * stop_accuracy:g} %")
    label_per_round(ax, "validation accuracy (%)", "Global model after each round")
    return fig


def agent_accuracies(run: RunResult, ax: Axes | None = None) -> Figure:
    """Validation accuracy of each agent's model w_G^{t−1} + δ_i beside the global model's, per round."""
    fig, ax = new_axes(ax)
    agents = agents_frame(run).dropna(subset=["val_accuracy"])
    for is_malicious, group in agents.groupby("is_malicious"):
        label = "malicious agent's w_G + δ_m" if is_malicious else "benign agents' w_G + δ_i"
        marker = "x" if is_malicious else "."
        ax.scatter(group["round"], 100 * group["val_accuracy"], marker=marker, alpha=0.6, label=label)
    frame = rounds_frame(run)
    ax.plot(frame.index, 100 * frame["val_accuracy"], color="black", marker="o", label="global model w_G")
    label_per_round(ax, "validation accuracy (%)", "Each agent's update applied alone vs the aggregate")
    return fig


def target_examples(targets: TargetSet, class_names: Sequence[str]) -> Figure:
    """The adversary's target images, titled with true → target class."""
    count = len(targets)
    fig, axes = plt.subplots(1, count, figsize=(1.8 * count, 2.2), squeeze=False)
    pairs = zip(axes[0], targets.targets, targets.x.cpu(), targets.true_classes, strict=True)
    for ax, target, image, true_class in pairs:
        ax.imshow(image.squeeze(0).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"test #{target.index}\n{class_names[int(true_class)]} → {class_names[target.target_class]}")
        ax.axis("off")
    fig.tight_layout()
    return fig


def target_confidence(runs: Mapping[str, RunResult], ax: Axes | None = None) -> Figure:
    """The global model's confidence in the target class after each round (SPEC §6.4), for one or more runs.

    Args:
        runs: legend label → run; the first target of each run is shown.
    """
    fig, ax = new_axes(ax)
    for label, run in runs.items():
        frame = rounds_frame(run)
        ax.plot(frame.index, frame["target_confidence"], marker="o", label=label)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="confidence 0.5")
    ax.set_ylim(-0.03, 1.03)
    label_per_round(ax, "confidence in the target class", "Global model on the target example")
    return fig


def confidence_over_seeds(
    groups: Mapping[str, Sequence[RunResult]],
    reference: Mapping[str, Mapping[int, float]] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Mean target confidence per round over seeds, with the min–max band, for each group of runs.

    Args:
        groups: legend label → runs of one setting with different seeds.
        reference: optional legend label → {round: confidence} drawn as dashed
            lines in the same colour order (e.g. the paper's numbers).
    """
    fig, ax = new_axes(ax)
    for index, (label, runs) in enumerate(groups.items()):
        frame = pd.DataFrame({run.config.seed: rounds_frame(run)["target_confidence"] for run in runs})
        colour = f"C{index}"
        ax.plot(frame.index, frame.mean(axis=1), marker="o", color=colour, label=f"{label} (mean of {len(runs)})")
        ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1), color=colour, alpha=0.15)
    for index, (label, values) in enumerate((reference or {}).items()):
        rounds = sorted(values)
        ax.plot(rounds, [values[t] for t in rounds], linestyle="--", marker="s", color=f"C{index}", label=label)
    ax.set_ylim(-0.03, 1.03)
    label_per_round(ax, "confidence in the target class", "Global model on the target (band: min–max over seeds)")
    return fig


def participation(
    runs: Mapping[str, RunResult], title: str | None = None, shaded_label: str = "attacker drawn (×)"
) -> Figure:
    """Target confidence and validation accuracy per round when agents are drawn each round (C < 1, SPEC §2.4),
    or drop out (a real federation, :mod:`fedutils.flower`).

    The rounds in which an attacked run's malicious agent sent its update are
    shaded (from the first attacked run; runs with one seed share the draw)
    and marked with a cross on each attacked run's curves.

    Args:
        runs: legend label → run.
        title: a title over the two panels.
        shaded_label: the legend's name for the shaded rounds.
    """
    fig, confidence, accuracy = _confidence_and_accuracy(runs)
    drawn = next((rounds for run in runs.values() if (rounds := run.attacker_rounds())), [])
    for ax in (confidence, accuracy):
        for round_index in drawn:
            ax.axvspan(round_index - 0.5, round_index + 0.5, color="C3", alpha=0.12, linewidth=0)
    for index, run in enumerate(runs.values()):
        marked = rounds_frame(run).loc[run.attacker_rounds()]
        confidence.scatter(marked.index, marked["target_confidence"], marker="x", s=50, color=f"C{index}", zorder=3)
        accuracy.scatter(marked.index, 100 * marked["val_accuracy"], marker="x", s=50, color=f"C{index}", zorder=3)
    confidence.fill_between([], [], color="C3", alpha=0.12, label=shaded_label)
    legend_beside(fig, confidence.get_legend_handles_labels()[0], title)
    return fig


def attack_goal(
    runs: Mapping[str, RunResult],
    reference: RunResult,
    confidence: float = 0.9,
    accuracy_points: float = 2.0,
    title: str | None = None,
) -> Figure:
    """Target confidence and validation accuracy per round, against the adversary's goal (§2 of the paper).

    The goal (:func:`fedutils.analysis.goal_met`) is met in a round when a
    run's confidence curve is above the dotted line and its accuracy curve
    inside the grey band: within ``accuracy_points`` of the attack-free run.

    Args:
        runs: legend label → attacked run.
        reference: the attack-free run with the same settings (drawn dashed, black).
        confidence: the confidence the target must reach.
        accuracy_points: how many points of accuracy the attack may cost.
        title: a title over the two panels.
    """
    fig, confidence_ax, accuracy_ax = _confidence_and_accuracy(runs)
    confidence_ax.axhline(confidence, color="grey", linestyle=":", label=f"confidence {confidence:g}")
    frame = rounds_frame(reference)
    kept = 100 * frame["val_accuracy"]
    (line,) = accuracy_ax.plot(frame.index, kept, color="black", linestyle="--", label="no attack")
    band = accuracy_ax.fill_between(
        frame.index, kept - accuracy_points, kept, color="grey", alpha=0.25, label=f"within {accuracy_points:g} points"
    )
    legend_beside(fig, [*confidence_ax.get_legend_handles_labels()[0], line, band], title)
    return fig


def _confidence_and_accuracy(runs: Mapping[str, RunResult]) -> tuple[Figure, Axes, Axes]:
    """Two panels, target confidence and validation accuracy per round, a line (colour ``C{i}``) per run."""
    fig, (confidence, accuracy) = plt.subplots(1, 2, figsize=(12.0, 3.8))
    for index, (label, run) in enumerate(runs.items()):
        frame, colour = rounds_frame(run), f"C{index}"
        confidence.plot(frame.index, frame["target_confidence"], color=colour, label=label)
        accuracy.plot(frame.index, 100 * frame["val_accuracy"], color=colour, label=label)
    confidence.set_ylim(-0.03, 1.03)
    label_per_round(confidence, "confidence in the target class", "Global model on the target")
    label_per_round(accuracy, "validation accuracy (%)", "Global model after each round")
    for ax in (confidence, accuracy):
        ax.get_legend().remove()
    return fig, confidence, accuracy


def targets_hit(runs: Mapping[str, RunResult]) -> Figure:
    """How many of the r targets the global model classifies as their target class, after each round."""
    fig, ax = new_axes(None)
    most = 0
    for label, run in runs.items():
        frame = rounds_frame(run)
        most = max(most, len(run.records[0].targets))
        ax.plot(frame.index, frame["targets_hit"], marker="o", label=label)
    ax.set_ylim(-0.3, most + 0.3)
    ax.axhline(most, color="grey", linestyle=":", linewidth=1, label=f"all {most} targets")
    label_per_round(ax, "targets hit (of r)", "Targets classified as the attacker wants")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return fig
