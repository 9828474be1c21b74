"""Tables of finished runs, in numbers: target confidence over seeds, the goal's rounds, the attacker's share.

The talk's estimation table (SPEC §A) reports the global model's target
confidence at rounds t = 2, 3, 4; one run per seed gives one such row, and
:func:`confidence_over_seeds` turns several seeds into a mean and a spread.
:func:`attacker_share`, :func:`defense_outcomes` and :func:`krum_ranking` read
what a robust rule did with the attacker's update; :func:`goal_met` says in
which rounds an attack met the adversary's goal. The book's display tables
(strings for its pages) are ``fedutils.book.tables``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from fedutils.aggregators import Aggregator, KrumDistance, ServerContext, ServerRule, krum_scores
from fedutils.analysis.frames import agents_frame, rounds_frame
from fedutils.checks import update_statistics
from fedutils.errors import ConfigError
from fedutils.models import build_model, weight_mask
from fedutils.records import RunResult


def confidence_at_rounds(runs: Sequence[RunResult], rounds: Sequence[int]) -> pd.DataFrame:
    """The global target confidence after each of ``rounds`` (columns), one row per run (its seed)."""
    rows = {}
    for run in runs:
        frame = rounds_frame(run)
        missing = [t for t in rounds if t not in frame.index]
        if missing:
            raise ConfigError(
                f"a run with seed {run.config.seed} stopped after {run.rounds} rounds, before round(s) "
                f"{', '.join(map(str, missing))}; run with stop_accuracy=None and max_rounds ≥ {max(rounds)}."
            )
        rows[run.config.seed] = frame.loc[list(rounds), "target_confidence"]
    table = pd.DataFrame(rows).T
    table.index.name = "seed"
    table.columns.name = "round t"
    return table


def confidence_over_seeds(groups: Mapping[str, Sequence[RunResult]], rounds: Sequence[int]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the target confidence at ``rounds``, one row per group.

    Columns are a (round, statistic) MultiIndex with statistics ``mean`` and
    ``sd`` (sample standard deviation, ``NaN`` for one seed) and ``seeds``.
    """
    rows = {}
    for label, runs in groups.items():
        per_seed = confidence_at_rounds(runs, rounds)
        row = {}
        for t in rounds:
            values = per_seed[t].to_numpy()
            row[(t, "mean")] = float(values.mean())
            row[(t, "sd")] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        row[("all", "seeds")] = len(runs)
        rows[label] = row
    return pd.DataFrame(rows).T


def accuracy_loss(run: RunResult, reference: RunResult) -> pd.Series:
    """Validation accuracy points the global model of ``run`` lost against ``reference``, per round both ran."""
    accuracy, reference_accuracy = rounds_frame(run)["val_accuracy"], rounds_frame(reference)["val_accuracy"]
    shared = accuracy.index.intersection(reference_accuracy.index)
    return 100 * (reference_accuracy[shared] - accuracy[shared])


def goal_met(run: RunResult, reference: RunResult, confidence: float = 0.9, accuracy_points: float = 2.0) -> pd.Series:
    """Per round both runs reached: whether the attack met the adversary's goal (§2 of the paper).

    The goal has two halves: the global model gives the (first) target at least
    ``confidence`` in its target class, and its validation accuracy stays
    within ``accuracy_points`` of the attack-free ``reference`` run's.
    """
    return goal_rounds(run, accuracy_loss(run, reference), confidence, accuracy_points)


def goal_rounds(run: RunResult, lost: pd.Series, confidence: float, accuracy_points: float) -> pd.Series:
    confident = rounds_frame(run)["target_confidence"].loc[lost.index] >= confidence
    return confident & (lost <= accuracy_points)


def update_statistics_table(runs: Mapping[str, RunResult], round_index: int, weights_only: bool = True) -> pd.DataFrame:
    """One benign update (the first benign agent's) and the malicious update of a round, in numbers (SPEC §6.3).

    The numbers behind the book's update histograms (``fedutils.book.plots.update_histograms``): rows are
    (run, agent), columns those of :func:`fedutils.checks.update_statistics`.

    Args:
        runs: label → an attacked run that kept the updates of ``round_index``.
        round_index: the round t.
        weights_only: describe weights (kernels) only, as the authors' histograms did.
    """
    tables = {}
    for label, run in runs.items():
        benign, malicious = run.benign_and_malicious_updates(round_index)
        if malicious is None:
            raise ConfigError(f"run {label!r} has no malicious agent to compare with.")
        mask = weight_mask(build_model(run.config.model)) if weights_only else None
        stats = update_statistics(torch.stack([benign[0], malicious]), mask)
        stats.index = ["benign agent", "malicious agent"]
        tables[label] = stats
    return pd.concat(tables)


def attacker_share(run: RunResult) -> pd.DataFrame:
    """Per round the attacker took part: its share of the values the server's rule combined into the step.

    The share is read from what the rule recorded (:class:`fedutils.aggregators.Aggregation`):
    for Krum 1 when it chose the attacker and 0 otherwise; for Multi-Krum and
    FedAvg 1/m when the attacker is among the m updates averaged; for the
    coordinate-wise rules (median, trimmed mean, Bulyan) the fraction of the
    values entering the step that were the attacker's. Norm clipping keeps the
    FedAvg share and shrinks the update instead (column ``clipped``).

    Columns: ``attacker_share``, ``fair_share`` (1/n over the n updates the
    rule saw — one honest agent's share under FedAvg), ``selected`` and
    ``clipped`` (``None`` where the rule does not select or clip).

    Raises:
        ConfigError: the run had no attacker.
    """
    attacked = run.attacker_rounds()
    if not attacked:
        raise ConfigError("this run has no malicious agent whose share of the step could be measured.")
    agents = agents_frame(run)
    rows = {}
    for round_index, group in agents[agents["round"].isin(attacked)].groupby("round"):
        attacker = group[group["is_malicious"]].iloc[0]
        used = group["aggregated"] & group["selected"].fillna(True).astype(bool)  # plain FedAvg records no choice
        recorded = attacker["coordinate_share"]
        share = float(recorded) if pd.notna(recorded) else float(used[attacker.name]) / int(used.sum())
        rows[round_index] = {
            "attacker_share": share,
            "fair_share": 1.0 / int(group["aggregated"].sum()),
            "selected": attacker["selected"],
            "clipped": attacker["clipped"],
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("round")


def defense_outcomes(runs: Mapping[tuple, RunResult], names: Sequence[str] = ("attack", "rule")) -> pd.DataFrame:
    """One row per run of a grid (attack × aggregation rule, or rule × boost λ): what the attack achieved.

    Columns: ``rounds``, ``final_target_confidence``, ``highest_target_confidence``,
    ``final_accuracy`` (fraction), and ``attacker_share`` — the attacker's mean
    share of the step over its rounds (see :func:`attacker_share`; NaN for runs
    without an attacker).

    Args:
        runs: a key tuple per run, e.g. ``("explicit boosting", "krum")`` → run.
        names: the names of the key's levels, which become the index.
    """
    rows = []
    for run in runs.values():
        confidence = rounds_frame(run)["target_confidence"]
        rows.append(
            {
                "rounds": run.rounds,
                "final_target_confidence": float(confidence.iloc[-1]),
                "highest_target_confidence": float(confidence.max()),
                "final_accuracy": run.final_accuracy,
                "attacker_share": attacker_share(run)["attacker_share"].mean() if run.attacker_rounds() else np.nan,
            }
        )
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(list(runs), names=list(names)))


def krum_ranking(run: RunResult) -> pd.DataFrame:
    """Per kept round: where Krum's score placed the attacker's update among all the round's updates (SPEC §7).

    Scores use the run's own Krum settings (f, squared or the authors'
    weights-only plain distances); a run with another rule is scored as
    Krum with f = 1 would have scored it. Columns: ``attacker_rank`` (1 is
    Krum's choice), ``score_ratio`` (the attacker's score over the lowest
    honest score: below 1 it would be chosen), ``attacker_norm`` and
    ``honest_norm`` (mean), ‖δ‖₂ over all parameters.

    Raises:
        ConfigError: the run kept no updates, or had no attacker.
    """
    if not run.updates:
        raise ConfigError("this run kept no updates to score; set keep_updates in its configuration.")
    rule = run.config.aggregator.rule if run.config.aggregator is not None else None
    authors = getattr(rule, "distance", None) is KrumDistance.AUTHORS
    f = getattr(rule, "f", 1)
    mask = weight_mask(build_model(run.config.model)) if authors else None
    rows = {}
    for round_index in sorted(run.updates):
        honest, attacker = run.benign_and_malicious_updates(round_index)
        if attacker is None:
            raise ConfigError(f"round {round_index} of this run has no malicious update to rank.")
        scores = krum_scores(torch.cat([honest, attacker[None]]), f, squared=not authors, mask=mask)
        rows[round_index] = {
            "attacker_rank": 1 + int((scores[:-1] < scores[-1]).sum()),
            "score_ratio": float(scores[-1] / scores[:-1].min()),
            "attacker_norm": float(attacker.norm()),
            "honest_norm": float(honest.norm(dim=1).mean()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("round")


def grid_table(outcomes: pd.DataFrame, value: str) -> pd.DataFrame:
    """One column of :func:`defense_outcomes` as its grid: the first key level down, the second across, in run order."""
    rows, columns = (list(dict.fromkeys(outcomes.index.get_level_values(level))) for level in (0, 1))
    return outcomes[value].unstack(level=1).loc[rows, columns]


def rule_steps(updates: torch.Tensor, rules: Mapping[str, Aggregator]) -> dict[str, torch.Tensor]:
    """Each rule's step on one stack of ``updates`` with equal weights 1/n (so FedAvg is the plain mean)."""
    weights = torch.full((len(updates),), 1 / len(updates), dtype=updates.dtype)
    return {name: ServerRule(rule)(updates, weights, server=ServerContext()).step for name, rule in rules.items()}
