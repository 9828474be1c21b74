"""Figures of Byzantine-robust aggregation (Chapter 7): where the rules land, the attacker's share, and the
attack × defense map."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from fedutils.aggregators import Aggregator, Bulyan, FedAvg, Krum, Median, TrimmedMean
from fedutils.analysis import attacker_share, grid_table, rounds_frame, rule_steps
from fedutils.book.plots.style import label_per_round, legend_beside, new_axes, place_legend
from fedutils.errors import ConfigError
from fedutils.records import RunResult

PICTURE_RULES: dict[str, Aggregator] = {
    "mean (FedAvg)": FedAvg(),
    "coordinate median": Median(),
    "trimmed mean (trim 1)": TrimmedMean(trim=1),
    "Krum (f = 1)": Krum(f=1),
    "Bulyan (f = 1)": Bulyan(f=1),
}
"""The rules :func:`aggregation_picture` compares (weights 1/n, so FedAvg is the plain mean)."""


def aggregation_picture(benign: torch.Tensor, attackers: Mapping[str, torch.Tensor]) -> Figure:
    """Where each aggregation rule lands in two dimensions when one attacker joins honest updates.

    One panel per attacker: the honest updates (grey), the attacker's update
    (red), the honest updates' mean (the target a rule should hit, a black
    star) and each rule's result on all of them together.

    Args:
        benign: honest 2-D updates, shape ``(n, 2)`` with n ≥ 6 (Bulyan with f = 1 needs 7 in all).
        attackers: panel title → one malicious 2-D update, shape ``(2,)``.
    """
    if benign.dim() != 2 or benign.shape[1] != 2 or len(benign) < 6:
        raise ConfigError(f"benign must be at least six 2-D points, shape (n ≥ 6, 2); got {tuple(benign.shape)}.")
    fig, axes = plt.subplots(1, len(attackers), figsize=(5.6 * len(attackers), 4.6), squeeze=False)
    markers = ["o", "s", "D", "^", "v", "P"]
    for ax, (title, attacker) in zip(axes[0], attackers.items(), strict=True):
        steps = rule_steps(torch.cat([benign, attacker.reshape(1, 2)]), PICTURE_RULES)
        ax.scatter(*benign.T.numpy(), color="grey", alpha=0.6, label="honest updates")
        ax.scatter(*attacker.numpy(), color="C3", marker="x", s=90, label="attacker's update")
        ax.scatter(*benign.mean(0).numpy(), color="black", marker="*", s=160, label="honest mean")
        for index, (name, step) in enumerate(steps.items()):
            colour = f"C{index}"
            ax.scatter(*step.numpy(), marker=markers[index], s=60, facecolors="none", edgecolors=colour, label=name)
        ax.set_xlabel("update coordinate 1")
        ax.set_ylabel("update coordinate 2")
        ax.set_title(title)
        ax.set_aspect("equal", adjustable="datalim")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def robust_rounds(runs: Mapping[str, RunResult], title: str | None = None) -> Figure:
    """An attack against a robust aggregation rule, round by round (SPEC §7): three panels.

    Left, the global model's confidence in the target class; middle, its
    validation accuracy; right, the attacker's share of the values the rule
    combined into the step (:func:`fedutils.analysis.attacker_share`) — for
    Krum 1 in the rounds it chose the attacker, else 0 — with the fair share
    1/n dotted. Runs without an attacker appear in the first two panels only.

    Args:
        runs: legend label → run.
        title: a title over the three panels.
    """
    fig, (confidence, accuracy, share) = plt.subplots(1, 3, figsize=(15.0, 3.8))
    for index, (label, run) in enumerate(runs.items()):
        colour = f"C{index}"
        frame = rounds_frame(run)
        confidence.plot(frame.index, frame["target_confidence"], marker="o", color=colour, label=label)
        accuracy.plot(frame.index, 100 * frame["val_accuracy"], marker="o", color=colour, label=label)
        if run.attacker_rounds():
            shares = attacker_share(run)
            share.plot(shares.index, 100 * shares["attacker_share"], marker="o", color=colour, label=label)
            share.plot(shares.index, 100 * shares["fair_share"], color=colour, linestyle=":", linewidth=1)
    (fair,) = share.plot([], [], color="grey", linestyle=":", linewidth=1, label="fair share 1/n")
    confidence.set_ylim(-0.03, 1.03)
    share.set_ylim(-3, 103)
    label_per_round(confidence, "confidence in the target class", "Global model on the target")
    label_per_round(accuracy, "validation accuracy (%)", "Global model after each round")
    label_per_round(share, "attacker's share of the step (%)", "What the rule took from the attacker")
    for ax in (confidence, accuracy, share):
        ax.get_legend().remove()
    legend_beside(fig, [*confidence.get_legend_handles_labels()[0], fair], title)
    return fig


def defense_matrix(outcomes: pd.DataFrame, rounds: int | None = None) -> Figure:
    """The attack × defense map: final target confidence per cell, with the final validation accuracy beneath.

    Args:
        outcomes: :func:`fedutils.analysis.defense_outcomes` of an ``(attack, rule)`` grid.
        rounds: the number of rounds every run had, for the title.
    """
    confidence = grid_table(outcomes, "final_target_confidence")
    accuracy = grid_table(outcomes, "final_accuracy")
    fig, ax = plt.subplots(figsize=(1.25 * confidence.shape[1] + 3.0, 0.75 * len(confidence) + 1.6))
    image = ax.imshow(confidence.to_numpy(), cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
    for (row, column), value in np.ndenumerate(confidence.to_numpy()):
        text = f"{value:.2f}\n{100 * accuracy.iloc[row, column]:.1f} %"
        ax.text(column, row, text, ha="center", va="center", fontsize=8, color="white" if value > 0.6 else "black")
    ax.set_xticks(range(confidence.shape[1]), confidence.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(confidence)), confidence.index)
    ax.set_xlabel("server's aggregation rule")
    ax.set_ylabel("attack")
    ax.grid(False)
    after = f" after {rounds} rounds" if rounds else ""
    ax.set_title(f"Target confidence (top) and validation accuracy (bottom){after}")
    fig.colorbar(image, ax=ax, label="global model's confidence in the target class")
    fig.tight_layout()
    return fig


def security_curves(outcomes: pd.DataFrame, value: str = "final_target_confidence") -> Figure:
    """Security-evaluation curves: what the attack achieves against each rule as its boost factor λ grows.

    Args:
        outcomes: :func:`fedutils.analysis.defense_outcomes` of a ``(rule, boost)`` grid.
        value: the column to plot (``final_target_confidence`` or ``highest_target_confidence``).
    """
    fig, ax = new_axes(None)
    for rule, group in outcomes[value].groupby(level="rule", sort=False):
        curve = group.droplevel("rule").sort_index()
        ax.plot(curve.index, curve.to_numpy(), marker="o", label=rule)
    ax.set_xscale("log")
    ax.set_xlabel("boost factor λ (log scale)")
    ax.set_ylabel(value.replace("_", " "))
    ax.set_title("Security evaluation: the attack's strength against each rule")
    ax.set_ylim(-0.03, 1.03)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="confidence 0.5")
    place_legend(ax)
    return fig
