"""Figures of the appendix's network study: the candidates' curves, the confidence–cost trade-off, and the
size screening."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure

from fedutils.analysis import rounds_frame
from fedutils.book.network_study import (
    GOAL_ACCURACY_LOST,
    GOAL_CONFIDENCE,
    SEEDS,
    Candidate,
    model_a_reference,
    seed_outcome,
)
from fedutils.book.plots.style import legend_beside
from fedutils.records import RunResult


def network_study(
    candidates: Mapping[str, Candidate],
    chosen: str,
    model_a: tuple[RunResult, RunResult] | None = None,
    talk: Mapping[int, float] | None = None,
) -> Figure:
    """The network study in two panels: explicit boosting's confidence per round (mean over seeds 0–2, band
    min–max) and FedAvg's validation accuracy per round (seed 0), one line per candidate, the ``chosen`` one
    drawn thick.

    Args:
        candidates: the study (:func:`fedutils.book.network_study.load_network_study`).
        chosen: the candidate the ``fast`` preset uses.
        model_a: the paper's network for reference, (explicit boosting run, FedAvg run), drawn dashed.
        talk: the talk's confidences by round, drawn as black squares.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 3.8))
    for index, candidate in enumerate(candidates.values()):
        colour, width = f"C{index}", 2.6 if candidate.name == chosen else 1.2
        per_seed = np.array([candidate.explicit(seed).confidence for seed in SEEDS])
        rounds = np.arange(1, per_seed.shape[1] + 1)
        left.plot(rounds, per_seed.mean(axis=0), marker="o", color=colour, linewidth=width, label=candidate.description)
        left.fill_between(rounds, per_seed.min(axis=0), per_seed.max(axis=0), color=colour, alpha=0.12)
        accuracy = candidate.fedavg(0).accuracy
        right.plot(range(1, len(accuracy) + 1), [100 * a for a in accuracy], marker="o", color=colour, linewidth=width)
    if model_a is not None:
        explicit, fedavg = (rounds_frame(run) for run in model_a)
        left.plot(explicit.index, explicit.target_confidence, "k--", marker="^", label="model A, seed 0 (recorded)")
        right.plot(fedavg.index, 100 * fedavg.val_accuracy, "k--", marker="^")
    if talk:
        rounds = sorted(talk)
        left.plot(rounds, [talk[t] for t in rounds], "ks", markersize=8, label="the talk")
    left.set_ylim(-0.03, 1.03)
    left.set_xlabel("round t")
    left.set_ylabel("confidence in the target class")
    left.set_title("Explicit boosting (λ = 10): mean of seeds 0–2")
    right.set_xlabel("round t")
    right.set_ylabel("validation accuracy (%)")
    right.set_title("FedAvg without an attacker, seed 0")
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles, _ = left.get_legend_handles_labels()
    legend_beside(fig, handles, None)
    return fig


def network_tradeoff(
    candidates: Mapping[str, Candidate],
    chosen: str,
    model_a: tuple[RunResult, RunResult] | None = None,
    at_round: int = 4,
) -> Figure:
    """What explicit boosting buys and costs on each candidate network, seed 0, at round ``at_round``: the
    target's confidence against the validation accuracy lost to FedAvg of the same seed (points), one point per
    candidate (the ``chosen`` one larger), with the goal's corner shaded
    (:data:`~fedutils.book.network_study.GOAL_CONFIDENCE`, :data:`~fedutils.book.network_study.GOAL_ACCURACY_LOST`).

    Args:
        candidates: the screened and studied networks (:func:`fedutils.book.network_study.load_network_screen`, …).
        chosen: the candidate the ``fast`` preset uses.
        model_a: the paper's network for reference, (explicit boosting run, FedAvg run), seed 0 (recorded).
        at_round: the round t compared.
    """
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    ax.fill_between(
        [-0.5, GOAL_ACCURACY_LOST],
        GOAL_CONFIDENCE,
        1.05,
        color="C2",
        alpha=0.15,
        label=f"goal: confidence ≥ {GOAL_CONFIDENCE:g}, at most {GOAL_ACCURACY_LOST:g} points lost",
    )
    markers = "osDvP"
    for index, candidate in enumerate(candidates.values()):
        confidence, lost = seed_outcome(candidate, at_round)
        is_chosen = candidate.name == chosen
        ax.scatter(
            lost,
            confidence,
            s=140 if is_chosen else 50,
            color=f"C{index % 10}",
            marker=markers[index // 10 % len(markers)],
            edgecolor="k" if is_chosen else "none",
            zorder=3,
            label=f"{candidate.name} (the fast preset)" if is_chosen else candidate.name,
        )
    if model_a is not None:
        confidence, lost = seed_outcome(model_a_reference(*model_a), at_round)
        ax.scatter(lost, confidence, marker="^", s=110, color="k", zorder=3, label="model A (recorded)")
    ax.set_xlim(left=-0.5)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(f"validation accuracy lost at t = {at_round} (points, against FedAvg of the same seed)")
    ax.set_ylabel(f"target's confidence at t = {at_round}")
    ax.set_title("Explicit boosting (λ = 10), seed 0: what it buys and what it costs")
    handles, _ = ax.get_legend_handles_labels()
    legend_beside(fig, handles, None)
    return fig


def network_size(candidates: Mapping[str, Candidate], at_round: int = 4) -> Figure:
    """What a network's size does to explicit boosting and to its cost, seed 0, one marker per candidate against
    its number of parameters (log scale): left, the validation accuracy the attack costs at round ``at_round``
    against FedAvg of the same seed (points), labelled with the target's confidence then, and the goal's
    :data:`~fedutils.book.network_study.GOAL_ACCURACY_LOST`; right, one local step's time on one thread.

    Args:
        candidates: the networks to compare (the screening's, the study's,
            :func:`fedutils.book.network_study.model_a_reference`); a candidate without a step time is left out of the
            right panel.
        at_round: the round t compared.
    """
    fig, (cost, speed) = plt.subplots(1, 2, figsize=(11.0, 3.9))
    markers = "osDvP^X"
    for index, candidate in enumerate(candidates.values()):
        style = {"color": f"C{index % 10}", "marker": markers[index % len(markers)], "s": 60, "zorder": 3}
        confidence, lost = seed_outcome(candidate, at_round)
        cost.scatter(candidate.parameters, lost, label=candidate.description, **style)
        cost.annotate(f"{confidence:.2f}", (candidate.parameters, lost), xytext=(6, 2), textcoords="offset points")
        if candidate.ms_per_step is not None:
            speed.scatter(candidate.parameters, candidate.ms_per_step, **style)
    cost.axhline(GOAL_ACCURACY_LOST, color="k", linestyle="--", label=f"goal: at most {GOAL_ACCURACY_LOST:g} points")
    cost.set_ylim(bottom=0)
    cost.set_ylabel(f"accuracy lost at t = {at_round} (points)")
    cost.set_title(f"Explicit boosting's cost (labels: target's confidence at t = {at_round})", fontsize=10)
    speed.set_yscale("log")
    speed.yaxis.set_major_formatter(ticker.ScalarFormatter())
    speed.set_ylabel("one local step on one thread (ms, B = 50)")
    speed.set_title("The network's cost on a CPU", fontsize=10)
    for ax in (cost, speed):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.EngFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("parameters")
    handles, _ = cost.get_legend_handles_labels()
    legend_beside(fig, handles, None)
    return fig
