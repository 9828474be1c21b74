"""A run's records as pandas tables: one row per round, per agent, per verdict, per target.

These are views of a :class:`~fedutils.records.RunResult`; every table and
figure of the book starts from one of them.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from fedutils.records import RunResult

ROUND_DETAILS = ("targets", "agents", "checks", "dropped")
"""The parts of a round's JSON that :func:`rounds_frame` leaves to the other frames."""


def rounds_frame(run: RunResult) -> pd.DataFrame:
    """One row per round with the global model's metrics (the first target's confidence and prediction)."""
    rows = [{k: v for k, v in r.to_dict().items() if k not in ROUND_DETAILS} for r in run.records]
    return pd.DataFrame(rows).set_index("round")


def agents_frame(run: RunResult) -> pd.DataFrame:
    """One row per round and selected agent: its update's norm, how the server handled it, and w_G + δ_i."""
    rows = [{"round": r.round, **dataclasses.asdict(a)} for r in run.records for a in r.agents]
    return pd.DataFrame(rows)


def checks_frame(run: RunResult) -> pd.DataFrame:
    """One row per round, check and inspected agent; each measurement becomes a column (empty without checks)."""
    rows = []
    for record in run.records:
        for check in record.checks:
            verdict = {k: v for k, v in dataclasses.asdict(check).items() if k != "measurements"}
            rows.append({"round": record.round, **verdict, **check.measurements})
    return pd.DataFrame(rows)


def targets_frame(run: RunResult) -> pd.DataFrame:
    """One row per round and target."""
    rows = [{"round": r.round, **dataclasses.asdict(t), "hit": t.hit} for r in run.records for t in r.targets]
    return pd.DataFrame(rows)


def malicious_frame(run: RunResult) -> pd.DataFrame:
    """Per round, the malicious agent's model w_G^{t−1} + δ_m beside the benign agents' mean (SPEC §6.1).

    Columns: ``malicious_val_accuracy``, ``benign_mean_val_accuracy``,
    ``malicious_target_confidence`` and ``malicious_update_norm``,
    ``benign_mean_update_norm``; rounds without the attacker are left out.
    """
    agents = agents_frame(run)
    benign = agents[~agents["is_malicious"]].groupby("round")
    malicious = agents[agents["is_malicious"]].set_index("round")
    return pd.DataFrame(
        {
            "malicious_val_accuracy": malicious["val_accuracy"],
            "benign_mean_val_accuracy": benign["val_accuracy"].mean(),
            "malicious_target_confidence": malicious["target_confidence"],
            "malicious_update_norm": malicious["update_norm"],
            "benign_mean_update_norm": benign["update_norm"].mean(),
        }
    ).dropna(subset=["malicious_update_norm"])
