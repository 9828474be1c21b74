"""Checks for Chapter 1's exercises (federated learning and FedAvg, §2 of the paper, Eq. 1)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from fedutils.analysis import agents_frame, rounds_frame
from fedutils.book.exercises.base import (
    AnswerError,
    Passed,
    require_answer,
    require_number,
    require_run,
    require_same_settings,
)
from fedutils.config import PartitionScheme
from fedutils.records import RunResult

PARTICIPATION = 0.5
"""C, the fraction of agents the participation exercise calls each round."""
DIRICHLET_ALPHA = 0.1
"""α of the Dirichlet split in the non-IID exercise."""
TOLERANCE = 1e-6
"""How far an accuracy difference may be from the recomputed one (they are fractions: 0.01 is one point)."""
_BOOKKEEPING = ("keep_updates", "checks", "evaluate_agents")
"""Configuration entries that do not change the federation's training."""


def _attack_free(run: Any, name: str) -> RunResult:
    run = require_run(run, name)
    if run.config.attack is not None:
        raise AnswerError(f"`{name}` must be an honest federation (no attack), but it ran with an attacker.")
    return run


def check_participation(half: RunResult, extra_rounds: int, result: RunResult) -> Passed:
    """``half`` is ``result``'s federation with C = 0.5 (Eq. 1 with weights α_i = 1/k kept), and ``extra_rounds``
    is how many more rounds it ran than ``result`` (each stops at the stopping accuracy or after T rounds)."""
    result = _attack_free(result, "result")
    half = _attack_free(half, "half")
    used = half.config.participation
    if used != PARTICIPATION:
        raise AnswerError(
            f"`half` must call half of the agents each round (participation={PARTICIPATION}), not C = {used}."
        )
    require_same_settings(half, "half", result, "result", ["participation", *_BOOKKEEPING])
    extra = require_number(extra_rounds, "extra_rounds", "a number of rounds")
    expected = half.rounds - result.rounds
    if extra == expected:
        more = "more" if expected >= 0 else "fewer"
        return Passed(
            f"C = {PARTICIPATION:g} ran {half.rounds} rounds against {result.rounds} with C = 1: "
            f"{abs(expected)} {more}."
        )
    if expected != 0 and extra == -expected:
        raise AnswerError(
            f"`extra_rounds` has the wrong sign: it is `half`'s rounds minus `result`'s, "
            f"{half.rounds} − {result.rounds} = {expected}."
        )
    raise AnswerError(
        f"`extra_rounds` should be {expected}: `half` ran {half.rounds} rounds and `result` {result.rounds}, "
        f"not a difference of {extra:g}."
    )


def averaging_gains(result: RunResult) -> pd.Series:
    """Per round t: the global model w_G^t's validation accuracy minus the mean of the agents' w_G^{t−1} + δ_i^t."""
    agents = agents_frame(result)
    if agents.empty or agents["val_accuracy"].isna().any():
        raise AnswerError("`result` did not evaluate its agents' models: run it with evaluate_agents=True.")
    global_accuracy = rounds_frame(result)["val_accuracy"]
    return global_accuracy - agents.groupby("round")["val_accuracy"].mean()


def _as_series(value: Any, name: str) -> pd.Series:
    value = require_answer(value, name)
    if isinstance(value, pd.DataFrame):
        raise AnswerError(f"`{name}` must be one column (a Series indexed by round), not a table.")
    if isinstance(value, Mapping):
        value = pd.Series(dict(value))
    if not isinstance(value, pd.Series):
        raise AnswerError(f"`{name}` must be a pandas Series indexed by round, not a {type(value).__name__}.")
    try:
        return value.astype(float)
    except (TypeError, ValueError):
        raise AnswerError(f"`{name}` must hold numbers (accuracy differences), one per round.") from None


def _matches(answer: pd.Series, expected: pd.Series) -> bool:
    """``answer`` agrees with ``expected`` in every round where ``expected`` is defined."""
    return all(math.isclose(answer[t], value, abs_tol=TOLERANCE) for t, value in expected.dropna().items())


def check_averaging_gain(averaging_gain: pd.Series, result: RunResult) -> Passed:
    """``averaging_gain`` is, per round, the global model's accuracy minus the mean of the agents' own models'
    (the models w_G^{t−1} + δ_i^t of Chapter 1's "parts and the whole", which Chapter 3's accuracy check compares)."""
    result = _attack_free(result, "result")
    expected = averaging_gains(result)
    answer = _as_series(averaging_gain, "averaging_gain")
    if set(answer.index) != set(expected.index):
        raise AnswerError(
            f"`averaging_gain` must have one value per round of `result`, rounds {list(expected.index)}, "
            f"not {list(answer.index)}."
        )
    if _matches(answer, expected):
        ahead = int((expected > 0).sum())
        return Passed(
            f"the global model is ahead of the agents' mean in {ahead} of {len(expected)} rounds "
            f"(by {100 * expected.min():.2f}–{100 * expected.max():.2f} points)."
        )
    agents = agents_frame(result)
    global_accuracy = rounds_frame(result)["val_accuracy"]
    mean = agents.groupby("round")["val_accuracy"].mean()
    mistakes = {
        "is reversed: take the global model's accuracy minus the agents' mean, positive where the global model "
        "is ahead": -expected,
        "is in points: give fractions, as the records do (0.01 is one point)": 100 * expected,
        "compares with the best agent's model: take the mean over the agents": global_accuracy
        - agents.groupby("round")["val_accuracy"].max(),
        "uses the global model before the round (w_G^{t−1}): the agents' models of round t are compared with "
        "w_G^t, the average of their updates": global_accuracy.shift(1) - mean,
    }
    for why, wrong in mistakes.items():
        if _matches(answer, wrong):
            raise AnswerError(f"`averaging_gain` {why}.")
    first = next(t for t in expected.index if not math.isclose(answer[t], expected[t], abs_tol=TOLERANCE))
    raise AnswerError(
        f"`averaging_gain` in round {first} should be {expected[first]:.4f} (the global model's accuracy minus the "
        f"mean of the agents' own models), not {answer[first]:.4f}."
    )


def accuracy_after(run: RunResult, round_index: int) -> float:
    """The global model's validation accuracy after ``round_index`` (its final model's if the run stopped before)."""
    return [record for record in run.records if record.round <= round_index][-1].val_accuracy


def check_non_iid(skewed_result: RunResult, skew_cost: float, result: RunResult) -> Passed:
    """``skewed_result`` splits the data with a Dirichlet partition, α = 0.1, and ``skew_cost`` is how much lower
    its global accuracy is than the IID run's after the same round (its last)."""
    result = _attack_free(result, "result")
    skewed_result = _attack_free(skewed_result, "skewed_result")
    partition = skewed_result.config.partition
    if partition is not PartitionScheme.DIRICHLET:
        raise AnswerError(f"`skewed_result` must split the data with partition='dirichlet', not {partition.value!r}.")
    alpha = skewed_result.config.dirichlet_alpha
    if alpha != DIRICHLET_ALPHA:
        raise AnswerError(f"`skewed_result` must use dirichlet_alpha={DIRICHLET_ALPHA}, not {alpha}.")
    require_same_settings(
        skewed_result, "skewed_result", result, "result", ["partition", "dirichlet_alpha", "max_rounds", *_BOOKKEEPING]
    )
    cost = require_number(skew_cost, "skew_cost", "an accuracy difference (a fraction)")
    last = skewed_result.rounds
    expected = accuracy_after(result, last) - skewed_result.final_accuracy
    if math.isclose(cost, expected, abs_tol=TOLERANCE):
        direction = "below" if expected > 0 else "above"
        return Passed(
            f"after round {last} the Dirichlet shards leave the global model {100 * abs(expected):.1f} points "
            f"{direction} the IID run's."
        )
    if not math.isclose(expected, 0, abs_tol=TOLERANCE) and math.isclose(cost, -expected, abs_tol=TOLERANCE):
        raise AnswerError("`skew_cost` has the wrong sign: take the IID run's accuracy minus the Dirichlet run's.")
    if math.isclose(cost, 100 * expected, abs_tol=100 * TOLERANCE):
        raise AnswerError("`skew_cost` is in points: give a fraction, as the records do (0.01 is one point).")
    at_end = result.final_accuracy - skewed_result.final_accuracy
    if result.rounds != last and math.isclose(cost, at_end, abs_tol=TOLERANCE):
        raise AnswerError(
            f"`skew_cost` compares different rounds: take the IID run's accuracy after round {last}, "
            f"the Dirichlet run's last, not after its own round {result.rounds}."
        )
    iid = accuracy_after(result, last)
    raise AnswerError(
        f"`skew_cost` should be {expected:.4f}: after round {last} the IID run is at {iid:.4f} "
        f"and the Dirichlet run at {skewed_result.final_accuracy:.4f}."
    )
