"""Every figure the book shows: one function each, one style.

Each function draws on a new (or given) Matplotlib axes and returns the
figure, with axes labelled (units included) and a legend where there is more
than one series. Accuracies are shown in percent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fedutils.aggregators import Aggregation, bulyan, coordinate_median, fedavg, krum, trimmed_mean
from fedutils.checks import NEGLIGIBLE_CHANGE, AccuracyCheck, DistanceCheck, check_verdicts, rates_at_thresholds
from fedutils.compare import attacker_share, grid_table
from fedutils.data.targets import TargetSet
from fedutils.errors import ConfigError
from fedutils.network_study import (
    GOAL_ACCURACY_LOST,
    GOAL_CONFIDENCE,
    SEEDS,
    Candidate,
    model_a_reference,
    seed_outcome,
)
from fedutils.results import RunResult

STYLE = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 10,
}
"""The book's Matplotlib settings; chapters apply them once with :func:`use_book_style`."""


def use_book_style() -> None:
    """Apply :data:`STYLE` to all later figures."""
    plt.rcParams.update(STYLE)


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    return plt.subplots()


def _label_per_round(ax: Axes, ylabel: str, title: str) -> None:
    """Axis labels, integer round ticks and the legend of a per-round plot."""
    ax.set_xlabel("round t")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    _place_legend(ax)


def _place_legend(ax: Axes) -> None:
    """A legend inside the axes, or beside them when it is crowded (where it cannot hide a curve)."""
    handles, _ = ax.get_legend_handles_labels()
    if len(handles) > CROWDED_LEGEND:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    else:
        ax.legend()


def _legend_beside(fig: Figure, handles: Sequence, title: str | None) -> None:
    """Title the figure, lay it out, and give its panels one shared legend to their right."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)


CROWDED_LEGEND = 4
"""Legends with more entries than this go beside the plot rather than inside it."""


def class_counts_per_agent(counts: np.ndarray, class_names: Sequence[str], ax: Axes | None = None) -> Figure:
    """Heat map of how many examples of each class every agent holds.

    Args:
        counts: ``(num_agents, num_classes)`` as from :func:`fedutils.data.class_counts`.
        class_names: the name of each class.
    """
    fig, ax = _axes(ax)
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
    fig, ax = _axes(ax)
    for label, run in runs.items():
        frame = run.to_frame()
        ax.plot(frame.index, 100 * frame["val_accuracy"], marker="o", label=label)
    if stop_accuracy is not None:
        ax.axhline(100 * stop_accuracy, color="grey", linestyle="--", label=f"stop at {100 * stop_accuracy:g} %")
    _label_per_round(ax, "validation accuracy (%)", "Global model after each round")
    return fig


def agent_accuracies(run: RunResult, ax: Axes | None = None) -> Figure:
    """Validation accuracy of each agent's model w_G^{t−1} + δ_i beside the global model's, per round."""
    fig, ax = _axes(ax)
    agents = run.agents_frame().dropna(subset=["val_accuracy"])
    for is_malicious, group in agents.groupby("is_malicious"):
        label = "malicious agent's w_G + δ_m" if is_malicious else "benign agents' w_G + δ_i"
        marker = "x" if is_malicious else "."
        ax.scatter(group["round"], 100 * group["val_accuracy"], marker=marker, alpha=0.6, label=label)
    frame = run.to_frame()
    ax.plot(frame.index, 100 * frame["val_accuracy"], color="black", marker="o", label="global model w_G")
    _label_per_round(ax, "validation accuracy (%)", "Each agent's update applied alone vs the aggregate")
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
    fig, ax = _axes(ax)
    for label, run in runs.items():
        frame = run.to_frame()
        ax.plot(frame.index, frame["target_confidence"], marker="o", label=label)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="confidence 0.5")
    ax.set_ylim(-0.03, 1.03)
    _label_per_round(ax, "confidence in the target class", "Global model on the target example")
    return fig


def update_histograms(
    runs: Mapping[str, RunResult],
    round_index: int,
    bins: int = 200,
    ignore_below: float = NEGLIGIBLE_CHANGE,
) -> Figure:
    """Histograms of one benign update's and the malicious update's values in a round (SPEC §6.3), a panel per run.

    As in the authors' analysis, the benign update is the first benign agent's,
    values with ``|δ| ≤ ignore_below`` are left out, and counts are on a log
    scale; all panels share one value range so that they compare directly.

    Args:
        runs: panel title → an attacked run that kept the updates of ``round_index``.
        round_index: the round t whose updates are shown.
        bins: histogram bins over the shared range.
        ignore_below: drop values whose magnitude is at most this.
    """
    pairs = {}
    for title, run in runs.items():
        benign, malicious = run.benign_and_malicious_updates(round_index)
        if malicious is None:
            raise ConfigError(f"run {title!r} has no malicious agent to compare with.")
        pairs[title] = (benign[0], malicious)
    limit = max(float(u.abs().max()) for pair in pairs.values() for u in pair)
    edges = np.linspace(-limit, limit, bins + 1)
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.4), squeeze=False, sharey=True)
    for ax, (title, pair) in zip(axes[0], pairs.items(), strict=True):
        for values, label, colour in zip(pair, ("benign agent", "malicious agent"), ("C0", "C3"), strict=True):
            kept = values.flatten().numpy()
            kept = kept[np.abs(kept) > ignore_below]
            ax.hist(kept, bins=edges, histtype="stepfilled", alpha=0.5, color=colour, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("parameter change δ (weight units)")
        ax.set_title(f"{title}, round {round_index}")
        ax.legend(loc="upper left", fontsize=8)
    axes[0][0].set_ylabel("parameters (log scale)")
    fig.tight_layout()
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
    fig, ax = _axes(ax)
    for index, (label, runs) in enumerate(groups.items()):
        frame = pd.DataFrame({run.config["seed"]: run.to_frame()["target_confidence"] for run in runs})
        colour = f"C{index}"
        ax.plot(frame.index, frame.mean(axis=1), marker="o", color=colour, label=f"{label} (mean of {len(runs)})")
        ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1), color=colour, alpha=0.15)
    for index, (label, values) in enumerate((reference or {}).items()):
        rounds = sorted(values)
        ax.plot(rounds, [values[t] for t in rounds], linestyle="--", marker="s", color=f"C{index}", label=label)
    ax.set_ylim(-0.03, 1.03)
    _label_per_round(ax, "confidence in the target class", "Global model on the target (band: min–max over seeds)")
    return fig


def accuracy_check(run: RunResult, ax: Axes | None = None) -> Figure:
    """Accuracy checking per round (SPEC §6.1): each update's gap acc(w_{G∖i}) − acc(w_G + δ_i) against γ.

    Points above the dashed line are flagged. Gaps are in accuracy points on the server's held-out data.
    """
    fig, ax = _axes(ax)
    verdicts = check_verdicts(run, AccuracyCheck.name)
    for is_malicious, group in verdicts.groupby("is_malicious"):
        style = {"marker": "x", "s": 60, "color": "C3"} if is_malicious else {"marker": ".", "color": "C0"}
        label = "malicious agent" if is_malicious else "benign agents"
        ax.scatter(group["round"], 100 * group["statistic"], alpha=0.8, label=label, **style)
    gamma = 100 * verdicts["threshold"].iloc[0]
    ax.axhline(gamma, color="grey", linestyle="--", label=f"γ = {gamma:g} points (flag above)")
    _label_per_round(ax, "accuracy gap (points)", "Accuracy check: others' aggregate minus w_G + δ_i")
    return fig


def distance_band(run: RunResult, ax: Axes | None = None) -> Figure:
    """Weight-update statistics per round (SPEC §6.2): the benign distance band beside the malicious update's range.

    Blue bars span [R^l, R^u], the pairwise L2 distances among the benign
    updates; red bars span [R_m^l, R_m^u], the malicious update's distances to
    them; the grey ticks mark how far outside the band the check tolerates (κ).
    """
    fig, ax = _axes(ax)
    verdicts = check_verdicts(run, DistanceCheck.name)
    malicious = verdicts[verdicts["is_malicious"]]
    if malicious.empty:
        raise ConfigError("this run has no malicious agent whose distances could be compared with the benign band.")
    rounds = malicious["round"].to_numpy()
    low, high = malicious["band_min"].to_numpy(), malicious["band_max"].to_numpy()
    allowance = malicious["threshold"].to_numpy() * high
    ax.bar(rounds - 0.17, high - low, bottom=low, width=0.3, color="C0", alpha=0.6, label="benign band [R^l, R^u]")
    middle = (malicious["update_min"] + malicious["update_max"]).to_numpy() / 2
    spread = (malicious["update_max"] - malicious["update_min"]).to_numpy() / 2
    ax.errorbar(
        rounds + 0.17, middle, yerr=spread, fmt="none", ecolor="C3", elinewidth=5, capsize=5, label="malicious range"
    )
    for edge in (low - allowance, high + allowance):
        ax.hlines(edge, rounds - 0.35, rounds + 0.35, color="grey", linestyle="--", linewidth=1)
    ax.plot([], [], color="grey", linestyle="--", linewidth=1, label="band ± κ·R^u (flag outside)")
    parameters = "weights only" if _weights_only(run) else "all parameters"
    _label_per_round(ax, f"L2 distance between updates ({parameters})", "Distance check: benign band, malicious range")
    ax.legend(fontsize=8)
    return fig


def _weights_only(run: RunResult) -> bool:
    """Whether the run's distance check compared weights only (read from its configuration)."""
    checks = run.config["checks"]["checks"]
    return next(c["weights_only"] for c in checks if c["name"] == DistanceCheck.name)


def stealth_panels(run: RunResult, title: str | None = None) -> Figure:
    """The accuracy check and the distance check of an attacked run side by side: does the attack stay hidden?"""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 3.8))
    accuracy_check(run, ax=left)
    distance_band(run, ax=right)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def detection_tradeoff(runs: Mapping[str, RunResult], check: str, thresholds: Sequence[float]) -> Figure:
    """How often ``check`` flags each run's malicious update, and honest updates, as its threshold varies.

    Computed from the recorded statistics (observe-mode runs), so no run is
    repeated. Solid lines: the attacker's updates flagged; dashed: the benign
    updates of all runs flagged (false positives). Thresholds are shown in
    points (accuracy) or percent of the band's top (distance).
    """
    fig, ax = _axes(None)
    for label, run in runs.items():
        rates = rates_at_thresholds(run, check, thresholds)
        if rates["detection_rate"].notna().any():
            ax.plot(100 * rates.index, 100 * rates["detection_rate"], marker=".", label=f"{label}: malicious flagged")
    honest = rates_at_thresholds(list(runs.values()), check, thresholds)["false_positive_rate"]
    ax.plot(100 * honest.index, 100 * honest, color="black", linestyle="--", label="benign flagged (all runs)")
    unit = "points" if check == AccuracyCheck.name else "% of R^u"
    symbol = "γ" if check == AccuracyCheck.name else "κ"
    in_use = check_verdicts(next(iter(runs.values())), check)["threshold"].iloc[0]
    ax.axvline(100 * in_use, color="grey", linestyle=":", label=f"{symbol} in these runs ({100 * in_use:g})")
    ax.set_xlabel(f"threshold {symbol} ({unit})")
    ax.set_ylabel("updates flagged (%)")
    ax.set_title(f"{check.capitalize()} check: detection vs false positives")
    ax.set_ylim(-3, 103)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside: the curves fill the axes
    return fig


def honest_check_statistics(runs: Sequence[RunResult]) -> Figure:
    """Histograms of every honest update's check statistic over attack-free runs, one panel per check.

    What the thresholds must leave room for: a check flags an honest update
    whenever its statistic passes the dashed line (a false positive).
    """
    frame = pd.concat([check_verdicts(run) for run in runs], ignore_index=True)
    honest = frame[~frame["is_malicious"]]
    names = list(dict.fromkeys(honest["check"]))
    fig, axes = plt.subplots(1, len(names), figsize=(6.0 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = honest[honest["check"] == name]
        scale, unit, symbol = (100, "points", "γ") if name == AccuracyCheck.name else (100, "% of R^u", "κ")
        ax.hist(scale * rows["statistic"], bins=30, color="C0", alpha=0.7, label=f"honest updates ({len(rows)})")
        threshold = scale * rows["threshold"].iloc[0]
        ax.axvline(threshold, color="grey", linestyle="--", label=f"{symbol} = {threshold:g} {unit}")
        statistic = "accuracy gap" if name == AccuracyCheck.name else "distance excess"
        ax.set_xlabel(f"{statistic} ({unit})")
        ax.set_ylabel("updates")
        ax.set_title(f"{name.capitalize()} check, {len(runs)} attack-free run(s)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


PICTURE_RULES: dict[str, Callable[[torch.Tensor, torch.Tensor], Aggregation]] = {
    "mean (FedAvg)": fedavg,
    "coordinate median": coordinate_median,
    "trimmed mean (trim 1)": lambda u, w: trimmed_mean(u, w, trim=1),
    "Krum (f = 1)": lambda u, w: krum(u, w, f=1),
    "Bulyan (f = 1)": lambda u, w: bulyan(u, w, f=1),
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
        updates = torch.cat([benign, attacker.reshape(1, 2)])
        weights = torch.full((len(updates),), 1 / len(updates))
        ax.scatter(*benign.T.numpy(), color="grey", alpha=0.6, label="honest updates")
        ax.scatter(*attacker.numpy(), color="C3", marker="x", s=90, label="attacker's update")
        ax.scatter(*benign.mean(0).numpy(), color="black", marker="*", s=160, label="honest mean")
        for index, (name, rule) in enumerate(PICTURE_RULES.items()):
            step = rule(updates, weights).step
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
    combined into the step (:func:`fedutils.compare.attacker_share`) — for
    Krum 1 in the rounds it chose the attacker, else 0 — with the fair share
    1/n dotted. Runs without an attacker appear in the first two panels only.

    Args:
        runs: legend label → run.
        title: a title over the three panels.
    """
    fig, (confidence, accuracy, share) = plt.subplots(1, 3, figsize=(15.0, 3.8))
    for index, (label, run) in enumerate(runs.items()):
        colour = f"C{index}"
        frame = run.to_frame()
        confidence.plot(frame.index, frame["target_confidence"], marker="o", color=colour, label=label)
        accuracy.plot(frame.index, 100 * frame["val_accuracy"], marker="o", color=colour, label=label)
        if run.attacker_rounds():
            shares = attacker_share(run)
            share.plot(shares.index, 100 * shares["attacker_share"], marker="o", color=colour, label=label)
            share.plot(shares.index, 100 * shares["fair_share"], color=colour, linestyle=":", linewidth=1)
    (fair,) = share.plot([], [], color="grey", linestyle=":", linewidth=1, label="fair share 1/n")
    confidence.set_ylim(-0.03, 1.03)
    share.set_ylim(-3, 103)
    _label_per_round(confidence, "confidence in the target class", "Global model on the target")
    _label_per_round(accuracy, "validation accuracy (%)", "Global model after each round")
    _label_per_round(share, "attacker's share of the step (%)", "What the rule took from the attacker")
    for ax in (confidence, accuracy, share):
        ax.get_legend().remove()
    _legend_beside(fig, [*confidence.get_legend_handles_labels()[0], fair], title)
    return fig


def defense_matrix(outcomes: pd.DataFrame, rounds: int | None = None) -> Figure:
    """The attack × defense map: final target confidence per cell, with the final validation accuracy beneath.

    Args:
        outcomes: :func:`fedutils.compare.defense_outcomes` of an ``(attack, rule)`` grid.
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
        outcomes: :func:`fedutils.compare.defense_outcomes` of a ``(rule, boost)`` grid.
        value: the column to plot (``final_target_confidence`` or ``highest_target_confidence``).
    """
    fig, ax = _axes(None)
    for rule, group in outcomes[value].groupby(level="rule", sort=False):
        curve = group.droplevel("rule").sort_index()
        ax.plot(curve.index, curve.to_numpy(), marker="o", label=rule)
    ax.set_xscale("log")
    ax.set_xlabel("boost factor λ (log scale)")
    ax.set_ylabel(value.replace("_", " "))
    ax.set_title("Security evaluation: the attack's strength against each rule")
    ax.set_ylim(-0.03, 1.03)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="confidence 0.5")
    _place_legend(ax)
    return fig


UNSIGNED_METHODS = ("gradient", "smoothgrad")
"""Methods whose maps are magnitudes (|gradient|): drawn in grey from 0; the others are signed, drawn blue–white–red."""


def attribution_grid(
    images: torch.Tensor,
    maps: Mapping[str, Mapping[str, torch.Tensor]],
    captions: Mapping[str, Sequence[str]],
    title: str | None = None,
) -> Figure:
    """The authors' comparison grid (SPEC §8): per input, one row per model; the input, then one map per method.

    Each map is scaled to its own largest magnitude, as iNNvestigate's
    heat- and graymaps are: magnitudes (gradient, SmoothGrad) in grey, signed
    maps in blue (against the class) to red (for it).

    Args:
        images: the inputs, ``(n, 1, H, W)``.
        maps: model label → :func:`fedutils.interpret.attributions` on ``images``.
        captions: model label → one caption per input (true label, prediction, confidence).
        title: a title over the grid.
    """
    methods = list(next(iter(maps.values())))
    n_rows, n_columns = len(images) * len(maps), len(methods) + 1
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(1.25 * n_columns + 1.6, 1.35 * n_rows + 0.6), squeeze=False)
    for index, image in enumerate(images):
        for offset, (label, model_maps) in enumerate(maps.items()):
            row = axes[index * len(maps) + offset]
            row[0].imshow(image[0].numpy(), cmap="gray_r")
            row[0].set_ylabel(f"{label}\n{captions[label][index]}", rotation=0, ha="right", va="center", fontsize=7)
            for ax, method in zip(row[1:], methods, strict=True):
                values = model_maps[method][index].sum(dim=0).numpy()
                scale = float(np.abs(values).max()) or 1.0
                if method in UNSIGNED_METHODS:
                    ax.imshow(np.abs(values), cmap="gray", vmin=0.0, vmax=scale)
                else:
                    ax.imshow(values, cmap="bwr", vmin=-scale, vmax=scale)
    for ax, name in zip(axes[0], ["input", *[str(m).replace("_", " ") for m in methods]], strict=True):
        ax.set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def attribution_similarity(summary: pd.DataFrame) -> Figure:
    """How alike the benign-only model's explanations are to other models', per method: ordinary inputs vs the target.

    Bars: the mean over the ordinary inputs (whiskers: their range);
    crosses: the target input. One colour per model compared.

    Args:
        summary: :func:`fedutils.interpret.similarity_summary`.
    """
    fig, ax = _axes(None)
    labels = list(dict.fromkeys(summary.columns.get_level_values(0)))
    measure = summary.columns.names[1]
    width = 0.8 / len(labels)
    for index, label in enumerate(labels):
        part = summary[label]
        x = np.arange(len(summary)) + (index - (len(labels) - 1) / 2) * width
        mean = part["ordinary, mean"].to_numpy()
        spread = np.vstack([mean - part["ordinary, min"].to_numpy(), part["ordinary, max"].to_numpy() - mean])
        colour = f"C{index}"
        ax.bar(x, mean, width=width, yerr=spread, capsize=2, color=colour, alpha=0.6, label=f"{label}: ordinary inputs")
        ax.scatter(x, part["target"].to_numpy(), marker="x", s=50, color=colour, zorder=3, label=f"{label}: the target")
    ax.set_xticks(range(len(summary)), [str(m).replace("_", " ") for m in summary.index], rotation=30, ha="right")
    ax.set_xlabel("attribution method")
    names = {"spearman": "Spearman correlation of |attribution|", "top_overlap": "shared top-10 % pixels (fraction)"}
    ax.set_ylabel(names.get(measure, measure))
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("How alike each model's explanations are to the benign-only model's")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
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
        marked = run.to_frame().loc[run.attacker_rounds()]
        confidence.scatter(marked.index, marked["target_confidence"], marker="x", s=50, color=f"C{index}", zorder=3)
        accuracy.scatter(marked.index, 100 * marked["val_accuracy"], marker="x", s=50, color=f"C{index}", zorder=3)
    confidence.fill_between([], [], color="C3", alpha=0.12, label=shaded_label)
    _legend_beside(fig, confidence.get_legend_handles_labels()[0], title)
    return fig


def attack_goal(
    runs: Mapping[str, RunResult],
    reference: RunResult,
    confidence: float = 0.9,
    accuracy_points: float = 2.0,
    title: str | None = None,
) -> Figure:
    """Target confidence and validation accuracy per round, against the adversary's goal (§2 of the paper).

    The goal (:func:`fedutils.compare.goal_met`) is met in a round when a
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
    frame = reference.to_frame()
    kept = 100 * frame["val_accuracy"]
    (line,) = accuracy_ax.plot(frame.index, kept, color="black", linestyle="--", label="no attack")
    band = accuracy_ax.fill_between(
        frame.index, kept - accuracy_points, kept, color="grey", alpha=0.25, label=f"within {accuracy_points:g} points"
    )
    _legend_beside(fig, [*confidence_ax.get_legend_handles_labels()[0], line, band], title)
    return fig


def _confidence_and_accuracy(runs: Mapping[str, RunResult]) -> tuple[Figure, Axes, Axes]:
    """Two panels, target confidence and validation accuracy per round, a line (colour ``C{i}``) per run."""
    fig, (confidence, accuracy) = plt.subplots(1, 2, figsize=(12.0, 3.8))
    for index, (label, run) in enumerate(runs.items()):
        frame, colour = run.to_frame(), f"C{index}"
        confidence.plot(frame.index, frame["target_confidence"], color=colour, label=label)
        accuracy.plot(frame.index, 100 * frame["val_accuracy"], color=colour, label=label)
    confidence.set_ylim(-0.03, 1.03)
    _label_per_round(confidence, "confidence in the target class", "Global model on the target")
    _label_per_round(accuracy, "validation accuracy (%)", "Global model after each round")
    for ax in (confidence, accuracy):
        ax.get_legend().remove()
    return fig, confidence, accuracy


def targets_hit(runs: Mapping[str, RunResult]) -> Figure:
    """How many of the r targets the global model classifies as their target class, after each round."""
    fig, ax = _axes(None)
    most = 0
    for label, run in runs.items():
        frame = run.to_frame()
        most = max(most, len(run.records[0].targets))
        ax.plot(frame.index, frame["targets_hit"], marker="o", label=label)
    ax.set_ylim(-0.3, most + 0.3)
    ax.axhline(most, color="grey", linestyle=":", linewidth=1, label=f"all {most} targets")
    _label_per_round(ax, "targets hit (of r)", "Targets classified as the attacker wants")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return fig


def distance_bands(runs: Mapping[str, RunResult]) -> Figure:
    """:func:`distance_band` for several runs side by side (e.g. one per data partition), on one distance scale."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.0 * len(runs), 3.8), squeeze=False, sharey=True)
    for ax, (label, run) in zip(axes[0], runs.items(), strict=True):
        distance_band(run, ax=ax)
        ax.set_title(label)
        if ax is not axes[0][-1]:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


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
        candidates: the study (:func:`fedutils.network_study.load_network_study`).
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
        explicit, fedavg = (run.to_frame() for run in model_a)
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
    _legend_beside(fig, handles, None)
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
    (:data:`~fedutils.network_study.GOAL_CONFIDENCE`, :data:`~fedutils.network_study.GOAL_ACCURACY_LOST`).

    Args:
        candidates: the screened and studied networks (:func:`fedutils.network_study.load_network_screen`, …).
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
    _legend_beside(fig, handles, None)
    return fig


def network_size(candidates: Mapping[str, Candidate], at_round: int = 4) -> Figure:
    """What a network's size does to explicit boosting and to its cost, seed 0, one marker per candidate against
    its number of parameters (log scale): left, the validation accuracy the attack costs at round ``at_round``
    against FedAvg of the same seed (points), labelled with the target's confidence then, and the goal's
    :data:`~fedutils.network_study.GOAL_ACCURACY_LOST`; right, one local step's time on one thread.

    Args:
        candidates: the networks to compare (the screening's, the study's,
            :func:`fedutils.network_study.model_a_reference`); a candidate without a step time is left out of the
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
    _legend_beside(fig, handles, None)
    return fig
