"""Chapter 11's exercise checks judge the reasoning on the student's own runs, on small real data.

The engines exercise compares two runs of the same experiment; which engine made each does not change what
the check recomputes, so two simulator runs with different executors stand in for them here
(``tests/flower/test_flower_engine.py`` compares Flower's records with the simulator's).
The dropout and secure-aggregation checks read records that only Flower makes; they are built here from a
real run's records, with agents removed as a dropout would, and from vectors as SecAgg+ hands them over.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.aggregators import Krum
from fedutils.analysis import rounds_frame
from fedutils.attacks import ExplicitBoosting
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import deployment as exercises
from fedutils.flower.secure import SecureAggregationRun, SecureRound


@pytest.fixture(scope="module")
def engines():
    config = preset("smoke", attack=ExplicitBoosting(), aggregator=Krum(f=1))
    return {
        "simulator": run_experiment(config, QUIET.replace(executor="sequential")),
        "flower": run_experiment(config, QUIET),
    }


@pytest.fixture(scope="module")
def dropout_run():
    """A real boosted run whose rounds lose agents as a dropout would: round 1 agents 2 and 9 (the attacker),
    round 2 agent 4."""
    run = run_experiment(preset("smoke", attack=ExplicitBoosting()), QUIET)
    lost = {1: (2, 9), 2: (4,)}
    records = [
        dataclasses.replace(
            r, agents=tuple(a for a in r.agents if a.agent_id not in lost[r.round]), dropped=lost[r.round]
        )
        for r in run.records
    ]
    return dataclasses.replace(run, records=records)


def test_engines_check_recomputes_krums_picks_and_the_confidence_gap(engines):
    picks = {engine: exercises.krum_picks(run) for engine, run in engines.items()}
    frames = [rounds_frame(run) for run in engines.values()]
    gap = float((frames[0]["target_confidence"] - frames[1]["target_confidence"]).abs().max())
    assert exercises.check_engines(picks, gap, engines)
    with pytest.raises(AnswerError, match="krum_kept\\['simulator'\\]"):
        exercises.check_engines({**picks, "simulator": [None] * 2}, gap, engines)
    with pytest.raises(AnswerError, match="largest_gap"):
        exercises.check_engines(picks, gap + 0.1, engines)
    accuracy_gap = float((frames[0]["val_accuracy"] - frames[1]["val_accuracy"]).abs().max())
    if abs(accuracy_gap - gap) > exercises.GAP_TOLERANCE:
        with pytest.raises(AnswerError, match="validation accuracy"):
            exercises.check_engines(picks, accuracy_gap, engines)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_engines(..., gap, engines)
    other = run_experiment(preset("smoke", seed=1, attack=ExplicitBoosting(), aggregator=Krum(f=1)), QUIET)
    with pytest.raises(AnswerError, match="seed"):
        exercises.check_engines(picks, gap, {"simulator": engines["simulator"], "flower": other})


def test_dropouts_check_counts_the_attackers_rounds_and_the_honest_losses(dropout_run):
    assert exercises.check_dropouts([1], 2, dropout_run)
    with pytest.raises(AnswerError, match="every round in which someone dropped"):
        exercises.check_dropouts([1, 2], 2, dropout_run)
    with pytest.raises(AnswerError, match="attacker's missing updates too"):
        exercises.check_dropouts([1], 3, dropout_run)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_dropouts([1], None, dropout_run)
    with pytest.raises(AnswerError, match="explicit_boosting"):
        exercises.check_dropouts([1], 2, run_experiment(preset("smoke", max_rounds=1), QUIET))


def _secure(accuracies: list[float], vectors: np.ndarray) -> SecureAggregationRun:
    rounds = [SecureRound(t, accuracy, 0.5, received=vectors) for t, accuracy in enumerate(accuracies, start=1)]
    return SecureAggregationRun(preset("smoke"), rounds)


def test_secure_view_check_counts_distinct_vectors_and_accuracy_drops():
    average = np.tile(np.arange(5, dtype=np.float32), (10, 1))  # ten copies of the aggregate, as SecAgg+ hands them
    secure = _secure([0.5, 0.4, 0.6, 0.55], average)
    assert exercises.check_secure_view([1, 1, 1, 1], [2, 4], secure)
    with pytest.raises(AnswerError, match="different"):
        exercises.check_secure_view([10, 10, 10, 10], [2, 4], secure)
    with pytest.raises(AnswerError, match="accuracy_drops"):
        exercises.check_secure_view([1, 1, 1, 1], [2], secure)
    with pytest.raises(AnswerError, match="run_secure_aggregation"):
        exercises.check_secure_view([1], [], object())
