"""Checks for Chapter 11's exercises (the paper's federation on Flower: engines, dropouts, secure aggregation)."""

from __future__ import annotations

from typing import Any

from fedutils.analysis import rounds_frame
from fedutils.book.exercises.base import (
    AnswerError,
    Passed,
    require_answer,
    require_mapping,
    require_number,
    require_run,
    require_same_settings,
    round_list,
)
from fedutils.records import RunResult

ENGINES = ("simulator", "flower")
"""The keys of the engines exercise's answers."""
GAP_TOLERANCE = 1e-9
"""How far ``largest_gap`` may be from the recomputed one (both are differences of the same float32 records)."""
ATTACK = "explicit_boosting"
"""The attack of the dropout exercise's run."""
_BOOKKEEPING = ("keep_updates", "checks", "evaluate_agents")


def krum_picks(run: RunResult) -> list[int | None]:
    """Per round, the agent whose update Krum kept (``None`` if it kept none of those that answered)."""
    return [next((a.agent_id for a in record.agents if a.selected), None) for record in run.records]


def check_engines(krum_kept: Any, largest_gap: Any, runs: Any) -> Passed:
    """``krum_kept`` maps each engine to Krum's pick per round; ``largest_gap`` is the largest difference in the
    target's confidence between the two engines over the rounds."""
    runs = require_mapping(
        runs, "runs", ENGINES, str, lambda run: require_run(run, "a run"), key_label="engine", value_label="its run"
    )
    require_same_settings(runs["flower"], "runs['flower']", runs["simulator"], "runs['simulator']", _BOOKKEEPING)
    expected = {engine: krum_picks(run) for engine, run in runs.items()}
    picks = require_mapping(
        krum_kept, "krum_kept", ENGINES, str, list, key_label="engine", value_label="the list of Krum's picks"
    )
    for engine in ENGINES:
        if picks[engine] != expected[engine]:
            raise AnswerError(
                f"`krum_kept['{engine}']` should be {expected[engine]}: the agent in each round's records whose "
                f"update Krum selected, not {picks[engine]}."
            )
    confidences = [rounds_frame(run)["target_confidence"] for run in runs.values()]
    gap = float((confidences[0] - confidences[1]).abs().max())
    answer = require_number(largest_gap, "largest_gap", "a difference in confidence")
    if abs(answer - gap) > GAP_TOLERANCE:
        accuracies = [rounds_frame(run)["val_accuracy"] for run in runs.values()]
        if abs(answer - float((accuracies[0] - accuracies[1]).abs().max())) <= GAP_TOLERANCE:
            raise AnswerError(
                "`largest_gap` is the gap in validation accuracy; the exercise asks for the target's confidence."
            )
        raise AnswerError(
            f"`largest_gap` should be {gap:.3g}, the largest |difference| in target confidence, not {answer:.3g}."
        )
    same = expected["flower"] == expected["simulator"]
    return Passed(
        f"Krum kept {'the same agents' if same else 'different agents'} on both engines ({expected['flower']}), "
        f"and the target's confidence differs by at most {gap:.1e}."
    )


def check_dropouts(attacker_absent: Any, honest_missing: Any, dropout_run: Any) -> Passed:
    """``attacker_absent``: the rounds in which the attacker dropped out of ``dropout_run``; ``honest_missing``:
    how many honest updates went missing over the whole run."""
    run = require_run(dropout_run, "dropout_run", attack=ATTACK)
    attacker = run.config.malicious_agent
    absent = [r.round for r in run.records if attacker in r.dropped]
    anyone = [r.round for r in run.records if r.dropped]
    answer = round_list(attacker_absent, "attacker_absent")
    if answer != absent:
        if answer == anyone and anyone != absent:
            raise AnswerError(
                "`attacker_absent` lists every round in which someone dropped out; only the rounds "
                f"in which agent {attacker}, the attacker, did count."
            )
        raise AnswerError(
            f"`attacker_absent` should be {absent}: the rounds whose `dropped` names agent {attacker}, not {answer}."
        )
    missing = sum(len(r.dropped) for r in run.records) - len(absent)
    count = require_number(honest_missing, "honest_missing", "a number of updates")
    if count != missing:
        if count == missing + len(absent):
            raise AnswerError("`honest_missing` counts the attacker's missing updates too; count the honest ones.")
        raise AnswerError(
            f"`honest_missing` should be {missing}, the honest agents named in the rounds' `dropped`, not {count:g}."
        )
    return Passed(f"The attacker missed rounds {absent or 'none'}; {missing} honest updates never arrived.")


def check_secure_view(distinct_vectors: Any, accuracy_drops: Any, secure: Any) -> Passed:
    """``distinct_vectors``: per round, how many different vectors the server's strategy was handed under
    secure aggregation; ``accuracy_drops``: the rounds (from 2) whose global accuracy fell below the round before."""
    secure = require_answer(secure, "secure")
    if not hasattr(secure, "rounds") or not hasattr(secure, "summary"):
        raise AnswerError("`secure` must be the result of run_secure_aggregation(...).")
    expected = [r.distinct_vectors for r in secure.rounds]
    try:
        answer = [int(v) for v in require_answer(distinct_vectors, "distinct_vectors")]
    except (TypeError, ValueError):
        raise AnswerError("`distinct_vectors` must list one count per round, e.g. [10, 10].") from None
    if answer != expected:
        if answer == [len(r.received) for r in secure.rounds]:
            raise AnswerError(
                "`distinct_vectors` counts the vectors the strategy was handed; count the *different* "
                "ones (np.unique(..., axis=0))."
            )
        raise AnswerError(f"`distinct_vectors` should be {expected}, not {answer}.")
    accuracies = [r.val_accuracy for r in secure.rounds]
    drops = [r.round for r, before in zip(secure.rounds[1:], accuracies, strict=False) if r.val_accuracy < before]
    given = round_list(accuracy_drops, "accuracy_drops")
    if given != drops:
        raise AnswerError(
            f"`accuracy_drops` should be {drops or '[]'}: the rounds whose `val_accuracy` is below "
            f"the previous round's, not {given}."
        )
    return Passed(
        f"The server was handed {expected[0]} distinct vector a round: only the average. "
        f"What it can still watch is the global model, whose accuracy fell in rounds {drops or 'none'}."
    )
