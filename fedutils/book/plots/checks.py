"""Figures of the server's checks (§3.3): update histograms, the accuracy gap, the distance band, and
detection trade-offs (Chapters 3–5, 9)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fedutils.analysis import check_verdicts, rates_at_thresholds
from fedutils.book.plots.style import label_per_round, new_axes
from fedutils.checks import NEGLIGIBLE_CHANGE, AccuracyCheck, DistanceCheck
from fedutils.errors import ConfigError
from fedutils.records import RunResult


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


def accuracy_check(run: RunResult, ax: Axes | None = None) -> Figure:
    """Accuracy checking per round (SPEC §6.1): each update's gap acc(w_{G∖i}) − acc(w_G + δ_i) against γ.

    Points above the dashed line are flagged. Gaps are in accuracy points on the server's held-out data.
    """
    fig, ax = new_axes(ax)
    verdicts = check_verdicts(run, AccuracyCheck.name)
    for is_malicious, group in verdicts.groupby("is_malicious"):
        style = {"marker": "x", "s": 60, "color": "C3"} if is_malicious else {"marker": ".", "color": "C0"}
        label = "malicious agent" if is_malicious else "benign agents"
        ax.scatter(group["round"], 100 * group["statistic"], alpha=0.8, label=label, **style)
    gamma = 100 * verdicts["threshold"].iloc[0]
    ax.axhline(gamma, color="grey", linestyle="--", label=f"γ = {gamma:g} points (flag above)")
    label_per_round(ax, "accuracy gap (points)", "Accuracy check: others' aggregate minus w_G + δ_i")
    return fig


def distance_band(run: RunResult, ax: Axes | None = None) -> Figure:
    """Weight-update statistics per round (SPEC §6.2): the benign distance band beside the malicious update's range.

    Blue bars span [R^l, R^u], the pairwise L2 distances among the benign
    updates; red bars span [R_m^l, R_m^u], the malicious update's distances to
    them; the grey ticks mark how far outside the band the check tolerates (κ).
    """
    fig, ax = new_axes(ax)
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
    label_per_round(ax, f"L2 distance between updates ({parameters})", "Distance check: benign band, malicious range")
    ax.legend(fontsize=8)
    return fig


def _weights_only(run: RunResult) -> bool:
    """Whether the run's distance check compared weights only (read from its configuration)."""
    return next(c.weights_only for c in run.config.checks.checks if c.name == DistanceCheck.name)


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
    fig, ax = new_axes(None)
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
