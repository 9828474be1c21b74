"""Tables that compare runs: target confidence over seeds, the malicious model, update distances.

The talk's estimation table (SPEC §A) reports the global model's target
confidence at rounds t = 2, 3, 4; one run per seed gives one such row, and
:func:`confidence_over_seeds` turns several seeds into a mean and a spread.
:func:`malicious_table` and :func:`distance_table` put attacked runs side by
side the way a server's checks would see them (:func:`checked_distance_table`
reads the distances of runs recorded without their updates from the check
itself); :func:`detection_table` says
how often the checks actually flagged them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from fedutils.aggregators import KrumDistance, krum_scores
from fedutils.checks import DistanceCheck, DistanceRanges, detection_rates, distance_ranges, update_statistics
from fedutils.errors import ConfigError
from fedutils.models import build_model, weight_mask
from fedutils.results import RunResult


def confidence_at_rounds(runs: Sequence[RunResult], rounds: Sequence[int]) -> pd.DataFrame:
    """The global target confidence after each of ``rounds`` (columns), one row per run (its seed)."""
    rows = {}
    for run in runs:
        frame = run.to_frame()
        missing = [t for t in rounds if t not in frame.index]
        if missing:
            raise ConfigError(
                f"a run with seed {run.config['seed']} stopped after {run.rounds} rounds, before round(s) "
                f"{', '.join(map(str, missing))}; run with stop_accuracy=None and max_rounds ≥ {max(rounds)}."
            )
        rows[run.config["seed"]] = frame.loc[list(rounds), "target_confidence"]
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


def mean_pm_sd(summary: pd.DataFrame, rounds: Sequence[int], digits: int = 2) -> pd.DataFrame:
    """:func:`confidence_over_seeds` formatted as "mean ± sd" strings, one column per round."""

    def cell(mean: float, sd: float) -> str:
        return f"{mean:.{digits}f}" if np.isnan(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"

    columns = {
        f"t = {t}": [cell(m, s) for m, s in zip(summary[(t, "mean")], summary[(t, "sd")], strict=True)] for t in rounds
    }
    return pd.DataFrame(columns, index=summary.index)


def malicious_table(runs: Mapping[str, RunResult]) -> pd.DataFrame:
    """Per round, what the server's accuracy check would see of each attacked run (SPEC §6.1).

    For each run (the outer column level): the validation accuracy of the
    malicious model w_G^{t−1} + δ_m and the benign models' mean (in %), the
    malicious model's confidence in the target class, and the global model's.
    """
    tables = {}
    for label, run in runs.items():
        frame = run.malicious_frame()
        tables[label] = pd.DataFrame(
            {
                "malicious acc. (%)": 100 * frame["malicious_val_accuracy"],
                "benign acc., mean (%)": 100 * frame["benign_mean_val_accuracy"],
                "malicious model's conf.": frame["malicious_target_confidence"],
                "global model's conf.": run.to_frame()["target_confidence"],
            }
        )
    return pd.concat(tables, axis=1).round(2)


def distance_table(runs: Mapping[str, RunResult], round_index: int) -> pd.DataFrame:
    """The L2 distance ranges of one round's kept updates (SPEC §6.2), all parameters, one column per attacked run."""
    return pd.DataFrame(
        {
            label: _range_cells(distance_ranges(*run.benign_and_malicious_updates(round_index)))
            for label, run in runs.items()
        }
    )


def checked_distance_table(runs: Mapping[str, RunResult], round_index: int) -> pd.DataFrame:
    """The L2 distance ranges of one round as the server's distance check measured them, one column per attacked run.

    For runs whose updates were not kept — the recorded paper-preset runs —
    but whose server observed them with :class:`~fedutils.checks.DistanceCheck`
    (§3.3 of the paper). The check compares what its ``weights_only`` says
    (kernels only by default, as the authors' ``l2dist_calc.py``), so its
    distances can differ slightly from :func:`distance_table`'s, which
    compares all parameters.
    """
    columns = {}
    for label, run in runs.items():
        verdicts = run.checks_frame()
        if verdicts.empty or DistanceCheck.name not in set(verdicts["check"]):
            raise ConfigError(
                f"run {label!r} was not observed by the distance check; run it with checks=ServerChecks()."
            )
        mine = verdicts[
            (verdicts["check"] == DistanceCheck.name) & verdicts["is_malicious"] & (verdicts["round"] == round_index)
        ]
        if mine.empty:
            raise ConfigError(
                f"run {label!r} has no attacker's update in round {round_index} (rounds: 1–{run.rounds})."
            )
        fields = [field.name for field in dataclasses.fields(DistanceRanges)]
        columns[label] = _range_cells(DistanceRanges(**mine.iloc[0][fields].astype(float).to_dict()))
    return pd.DataFrame(columns)


def _range_cells(ranges: DistanceRanges) -> dict[str, str]:
    return {
        "benign–benign distance, min–max": f"{ranges.band_min:.2f} – {ranges.band_max:.2f}",
        "malicious–benign distance, min–max": f"{ranges.update_min:.2f} – {ranges.update_max:.2f}",
    }


def attack_outcome(
    run: RunResult, reference: RunResult | None = None, rounds: Sequence[int] = (2, 3, 4)
) -> dict[str, str]:
    """An attacked run's headline numbers as display strings, for "paper vs this book" tables.

    Args:
        run: the attacked run.
        reference: the attack-free run with the same settings, for the accuracy the attack cost.
        rounds: rounds whose global target confidence is listed ("–" past the end of the run).
    """
    frame = run.to_frame()
    malicious = run.malicious_frame()
    row = {
        f"confidence at t = {t}": f"{frame['target_confidence'][t]:.2f}" if t in frame.index else "–" for t in rounds
    }
    row["first round with confidence ≥ 0.9"] = str(run.rounds_to_confidence(0.9) or "not reached")
    row["rounds run, final accuracy"] = f"{run.rounds}, {run.final_accuracy:.2%}"
    row["malicious model's accuracy, mean"] = f"{malicious['malicious_val_accuracy'].mean():.1%}"
    row["benign models' accuracy, mean"] = f"{malicious['benign_mean_val_accuracy'].mean():.1%}"
    if reference is not None:
        lost = accuracy_loss(run, reference)
        row["largest accuracy loss vs no attack"] = f"{lost.max():.2f} points (round {lost.idxmax()})"
    return row


def accuracy_loss(run: RunResult, reference: RunResult) -> pd.Series:
    """Validation accuracy points the global model of ``run`` lost against ``reference``, per round both ran."""
    accuracy, reference_accuracy = run.to_frame()["val_accuracy"], reference.to_frame()["val_accuracy"]
    shared = accuracy.index.intersection(reference_accuracy.index)
    return 100 * (reference_accuracy[shared] - accuracy[shared])


def goal_met(run: RunResult, reference: RunResult, confidence: float = 0.9, accuracy_points: float = 2.0) -> pd.Series:
    """Per round both runs reached: whether the attack met the adversary's goal (§2 of the paper).

    The goal has two halves: the global model gives the (first) target at least
    ``confidence`` in its target class, and its validation accuracy stays
    within ``accuracy_points`` of the attack-free ``reference`` run's.
    """
    return _goal_rounds(run, accuracy_loss(run, reference), confidence, accuracy_points)


def _goal_rounds(run: RunResult, lost: pd.Series, confidence: float, accuracy_points: float) -> pd.Series:
    confident = run.to_frame()["target_confidence"].loc[lost.index] >= confidence
    return confident & (lost <= accuracy_points)


def goal_table(
    runs: Mapping[str, RunResult], reference: RunResult, confidence: float = 0.9, accuracy_points: float = 2.0
) -> pd.DataFrame:
    """Per attacked run (a row): in which rounds it met the goal of :func:`goal_met`, and where it ended."""
    rows = {}
    for label, run in runs.items():
        lost = accuracy_loss(run, reference)
        met = _goal_rounds(run, lost, confidence, accuracy_points)
        last = met.index[-1]
        goal = f"rounds with confidence ≥ {confidence:g} and ≤ {accuracy_points:g} points lost"
        rows[label] = {
            goal: f"{int(met.sum())}/{len(met)}",
            "first such round": str(met.idxmax()) if met.any() else "none",
            "target confidence at the last round": f"{run.to_frame()['target_confidence'][last]:.2f}",
            "accuracy lost at the last round": f"{lost[last]:.1f} points (round {last})",
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def detection_table(runs: Mapping[str, RunResult]) -> pd.DataFrame:
    """Per run (a row): how often each check flagged the malicious update and honest ones, and the attack's effect.

    Cells read "flagged / inspected (percent)"; runs without an attacker show
    "–" for the malicious update, and checks a run did not have read "not run".
    The last columns are the global model's target confidence at the end and
    at its highest.
    """
    rows = {}
    for label, run in runs.items():
        row = {}
        for check, rates in detection_rates(run).iterrows():
            row[f"{check} check: malicious flagged"] = _fraction(rates["attacker_flagged"], rates["attacker_rounds"])
            row[f"{check} check: benign flagged"] = _fraction(rates["benign_flagged"], rates["benign_checked"])
        confidence = run.to_frame()["target_confidence"]
        row["rounds"] = str(run.rounds)
        row["final target confidence"] = f"{confidence.iloc[-1]:.2f}"
        row["highest target confidence"] = f"{confidence.max():.2f} (round {confidence.idxmax()})"
        rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    checks = [column for column in table.columns if " check: " in column]
    return table[checks + [c for c in table.columns if c not in checks]].fillna("not run")


def _fraction(part: float, whole: float) -> str:
    return "–" if whole == 0 else f"{int(part)}/{int(whole)} ({part / whole:.0%})"


def update_statistics_table(runs: Mapping[str, RunResult], round_index: int, weights_only: bool = True) -> pd.DataFrame:
    """One benign update (the first benign agent's) and the malicious update of a round, in numbers (SPEC §6.3).

    The numbers behind :func:`fedutils.plots.update_histograms`: rows are
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
        mask = weight_mask(build_model(run.config["model"])) if weights_only else None
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
    agents = run.agents_frame()
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
        confidence = run.to_frame()["target_confidence"]
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
    rule = run.config.get("aggregator") or {}
    authors = rule.get("krum_distance") == KrumDistance.AUTHORS.value
    mask = weight_mask(build_model(run.config["model"])) if authors else None
    rows = {}
    for round_index in sorted(run.updates):
        honest, attacker = run.benign_and_malicious_updates(round_index)
        if attacker is None:
            raise ConfigError(f"round {round_index} of this run has no malicious update to rank.")
        scores = krum_scores(torch.cat([honest, attacker[None]]), rule.get("f", 1), squared=not authors, mask=mask)
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
