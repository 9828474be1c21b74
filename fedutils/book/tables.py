"""The book's display tables: runs side by side as a page shows them (strings, rounded, labelled).

:func:`malicious_table` and :func:`distance_table` put attacked runs side by
side the way a server's checks would see them (:func:`checked_distance_table`
reads the distances of runs recorded without their updates from the check
itself); :func:`detection_table` says how often the checks actually flagged
them; :func:`attack_outcome` and :func:`goal_table` give the headline numbers
of the "paper vs this book" tables; :func:`settings_table` the settings of
runs side by side. The numbers behind them are :mod:`fedutils.analysis`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fedutils.aggregators import FedAvg
from fedutils.analysis import (
    accuracy_loss,
    checks_frame,
    detection_rates,
    goal_rounds,
    malicious_frame,
    rounds_frame,
)
from fedutils.checks import DistanceCheck, DistanceRanges, distance_ranges
from fedutils.config import ExperimentConfig, PartitionScheme
from fedutils.errors import ConfigError
from fedutils.models import build_model, count_parameters
from fedutils.presets import preset
from fedutils.records import RunResult
from fedutils.simulation.execution import memory_needs


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
        frame = malicious_frame(run)
        tables[label] = pd.DataFrame(
            {
                "malicious acc. (%)": 100 * frame["malicious_val_accuracy"],
                "benign acc., mean (%)": 100 * frame["benign_mean_val_accuracy"],
                "malicious model's conf.": frame["malicious_target_confidence"],
                "global model's conf.": rounds_frame(run)["target_confidence"],
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
        verdicts = checks_frame(run)
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
    frame = rounds_frame(run)
    malicious = malicious_frame(run)
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


def goal_table(
    runs: Mapping[str, RunResult], reference: RunResult, confidence: float = 0.9, accuracy_points: float = 2.0
) -> pd.DataFrame:
    """Per attacked run (a row): in which rounds it met the goal of :func:`goal_met`, and where it ended."""
    rows = {}
    for label, run in runs.items():
        lost = accuracy_loss(run, reference)
        met = goal_rounds(run, lost, confidence, accuracy_points)
        last = met.index[-1]
        goal = f"rounds with confidence ≥ {confidence:g} and ≤ {accuracy_points:g} points lost"
        rows[label] = {
            goal: f"{int(met.sum())}/{len(met)}",
            "first such round": str(met.idxmax()) if met.any() else "none",
            "target confidence at the last round": f"{rounds_frame(run)['target_confidence'][last]:.2f}",
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
        confidence = rounds_frame(run)["target_confidence"]
        row["rounds"] = str(run.rounds)
        row["final target confidence"] = f"{confidence.iloc[-1]:.2f}"
        row["highest target confidence"] = f"{confidence.max():.2f} (round {confidence.idxmax()})"
        rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    checks = [column for column in table.columns if " check: " in column]
    return table[checks + [c for c in table.columns if c not in checks]].fillna("not run")


def _fraction(part: float, whole: float) -> str:
    return "–" if whole == 0 else f"{int(part)}/{int(whole)} ({part / whole:.0%})"


def settings_table(configs: dict[str, ExperimentConfig]) -> pd.DataFrame:
    """The settings that define a federated run, one column per configuration (for side-by-side tables)."""

    def describe(config: ExperimentConfig) -> dict[str, str]:
        split = (
            f"IID shards, RandomState({config.partition_seed}) permutation"
            if config.partition is PartitionScheme.IID
            else f"Dirichlet(α = {config.dirichlet_alpha:g}), seed {config.partition_seed}"
        )
        stop = "none" if config.stop_accuracy is None else f"{100 * config.stop_accuracy:g} %"
        return {
            "model": f"{config.model.value} ({count_parameters(build_model(config.model)):,} parameters)",
            "agents k, fraction per round C": f"{config.num_agents}, {config.participation:g}",
            "aggregation": _describe_aggregation(config),
            "data split": split,
            "samples per agent": "whole shard" if config.samples_per_agent is None else str(config.samples_per_agent),
            "local training": (
                f"E = {config.local_epochs:g}, B = {config.batch_size}, fresh Adam lr {config.learning_rate:g}, "
                f"{config.batch_order.value} batches"
            ),
            "stop at validation accuracy": stop,
            "max rounds T": str(config.max_rounds),
            "targets": ", ".join(str(t) for t in config.targets),
            "attack": _describe_attack(config),
            "server checks": _describe_checks(config),
            "seed": str(config.seed),
        }

    return pd.DataFrame({name: describe(config) for name, config in configs.items()})


def _describe_attack(config: ExperimentConfig) -> str:
    if config.attack is None:
        return "none"
    options = {k: v for k, v in config.attack.to_dict().items() if k not in ("name", "malicious_agent")}
    listed = ", ".join(f"{k} = {v}" for k, v in options.items())
    return f"{config.attack.name} by agent {config.malicious_agent} ({listed})"


def _describe_aggregation(config: ExperimentConfig) -> str:
    server = config.aggregator
    if server is None or (isinstance(server.rule, FedAvg) and not server.pre):
        return f"FedAvg, α_i = 1/k = {config.aggregation_weight:g}"
    stages = " → ".join(_with_options(stage.name, stage.options()) for stage in (*server.pre, server.rule))
    return stages + (f"; step {server.step.value}" if server.rule.estimates_one_update else "")


def _with_options(name: str, options: Mapping[str, object]) -> str:
    listed = ", ".join(f"{k} = {v}" for k, v in options.items() if v is not None)
    return f"{name} ({listed})" if listed else name


def _describe_checks(config: ExperimentConfig) -> str:
    if config.checks is None:
        return "none (every update aggregated unexamined)"
    listed = "; ".join(
        f"{check.name} ({', '.join(f'{k} = {v}' for k, v in check.to_dict().items() if k != 'name')})"
        for check in config.checks.checks
    )
    return f"{listed}; {config.checks.mode.value} mode"


COLAB_T4_FREE_BYTES = 15 * 2**30
"""What a Colab T4 (16 GB) offers a fresh session: about 15 GiB (Colab reports 15,360 MiB)."""
MEMORY_PRESETS = ("fast", "paper", "fast_k100", "paper_k100")
"""The presets the appendix's GPU memory table covers: each network at k = 10 and k = 100."""


def gpu_memory_table(free_bytes: int = COLAB_T4_FREE_BYTES, presets: Sequence[str] = MEMORY_PRESETS) -> pd.DataFrame:
    """What each preset's run holds on a GPU with ``free_bytes`` free, by the batched executor's own estimate
    (:func:`~fedutils.simulation.execution.memory_needs`): one agent's stacked training, the data kept on the
    device, how many of a round's agents train as one model, and the most held at once (MiB and GiB)."""
    rows = {}
    for name in presets:
        config = preset(name)
        needs = memory_needs(config)
        rows[name] = {
            "network": config.model.value,
            "agents a round": needs.agents,
            "one agent's training (MiB)": round(needs.per_agent / 2**20),
            "data on the device (MiB)": round(needs.data / 2**20),
            "agents stacked at once": needs.group(free_bytes),
            "peak (GiB)": round(needs.peak(free_bytes) / 2**30, 1),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("preset")


def markdown(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown table, its index the first column (how a table computed here goes into a page)."""
    header = [frame.index.name or "", *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = zip(frame.index, frame.itertuples(index=False), strict=True)
    lines += ["| " + " | ".join(map(str, [index, *row])) + " |" for index, row in rows]
    return "\n".join(lines)
