"""How well a server's checks separate the attacker from the honest agents, over a run."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from fedutils.analysis.frames import checks_frame
from fedutils.errors import ConfigError
from fedutils.records import RunResult


def check_verdicts(run: RunResult, check: str | None = None) -> pd.DataFrame:
    """The run's recorded verdicts (rows of :meth:`RunResult.checks_frame`), of all checks or of ``check``.

    Raises:
        ConfigError: the run has no verdicts (of that check): it ran without it.
    """
    frame = checks_frame(run)
    rows = frame if check is None or frame.empty else frame[frame["check"] == check]
    if rows.empty:
        which = "check records" if check is None else f"records of the {check} check"
        raise ConfigError(f"this run has no {which}; run it with checks configured (ExperimentConfig.checks).")
    return rows


def detection_rates(run: RunResult) -> pd.DataFrame:
    """Per check: how often it flagged the malicious update (true positives) and honest ones (false positives).

    Returns:
        One row per check with ``attacker_rounds`` (rounds the attacker took
        part in), ``attacker_flagged`` (rounds its update was flagged),
        ``detection_rate`` (their ratio; NaN without an attacker),
        ``benign_checked`` and ``benign_flagged`` (honest updates inspected and
        flagged, over all rounds) and ``false_positive_rate`` (their ratio).
    """
    rows = {}
    for check, verdicts in check_verdicts(run).groupby("check", sort=False):
        malicious = verdicts[verdicts["is_malicious"]]
        benign = verdicts[~verdicts["is_malicious"]]
        rows[check] = {
            "attacker_rounds": len(malicious),
            "attacker_flagged": int(malicious["flagged"].sum()),
            "detection_rate": malicious["flagged"].mean() if len(malicious) else float("nan"),
            "benign_checked": len(benign),
            "benign_flagged": int(benign["flagged"].sum()),
            "false_positive_rate": benign["flagged"].mean() if len(benign) else float("nan"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def flags_per_round(run: RunResult) -> pd.DataFrame:
    """Per round and check: whether the malicious update was flagged, and how many honest updates were.

    Returns:
        One row per round; for each check a column ``"<check>: malicious flagged"``
        (True/False, or NA in a round without the attacker) and
        ``"<check>: benign flagged"`` (a count).
    """
    columns = {}
    for check, verdicts in check_verdicts(run).groupby("check", sort=False):
        by_round = verdicts.groupby("round")
        malicious = verdicts[verdicts["is_malicious"]].set_index("round")["flagged"]
        columns[f"{check}: malicious flagged"] = malicious.reindex(list(by_round.groups)).astype("boolean")
        columns[f"{check}: benign flagged"] = by_round.apply(lambda v: int((v["flagged"] & ~v["is_malicious"]).sum()))
    return pd.DataFrame(columns).rename_axis("round")


def rates_at_thresholds(runs: RunResult | Sequence[RunResult], check: str, thresholds: Sequence[float]) -> pd.DataFrame:
    """Detection and false-positive rates of ``check`` at other thresholds, from the recorded statistics.

    Flagging is ``statistic > threshold``, so the runs need not be repeated;
    in filter mode the later rounds would have differed, so use observe-mode
    runs. Several runs are pooled: each rate counts all their verdicts.

    Returns:
        One row per threshold with ``detection_rate`` (NaN without an attacker) and ``false_positive_rate``.
    """
    pooled = [runs] if isinstance(runs, RunResult) else list(runs)
    verdicts = pd.concat([check_verdicts(run, check) for run in pooled])
    malicious = verdicts.loc[verdicts["is_malicious"], "statistic"].to_numpy()
    benign = verdicts.loc[~verdicts["is_malicious"], "statistic"].to_numpy()
    rows = {
        threshold: {
            "detection_rate": (malicious > threshold).mean() if len(malicious) else float("nan"),
            "false_positive_rate": (benign > threshold).mean() if len(benign) else float("nan"),
        }
        for threshold in thresholds
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("threshold")
