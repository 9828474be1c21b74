"""Chapter 7's exercise checks judge the reasoning on the student's own runs, on small real data."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.aggregators import Krum, KrumDistance, ServerContext, coordinate_median
from fedutils.analysis import krum_ranking
from fedutils.attacks import AlternatingMinimisation, Anchor
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import robust_aggregation as exercises
from fedutils.models import build_model, weight_mask


@pytest.fixture(scope="module")
def central():
    """Alternating minimisation pulled towards the others (anchor others, ρ = 1, λ = 2) against the authors' Krum."""
    config = preset(
        "smoke",
        samples_per_agent=100,
        evaluate_agents=False,
        keep_updates=(1, 2),
        aggregator=Krum(distance=KrumDistance.AUTHORS),
        attack=AlternatingMinimisation(boost=2.0, anchor=Anchor.OTHERS, rho=1.0, epochs=1),
    )
    return run_experiment(config, QUIET)


def with_attack(run, **changes):
    """The run as if its attack had had other options (only the configuration changes)."""
    return dataclasses.replace(run, config=run.config.replace(attack=run.config.attack.replace(**changes)))


def test_central_needs_the_strong_pull_and_reads_the_best_rank(central):
    best = int(krum_ranking(central)["attacker_rank"].min())
    assert exercises.check_central(central, best)
    with pytest.raises(AnswerError, match="`best_rank` is"):
        exercises.check_central(central, best + 1 if best < 10 else best - 1)
    with pytest.raises(AnswerError, match="rho"):
        exercises.check_central(with_attack(central, rho=1e-4), best)  # the talk's weak distance term
    with pytest.raises(AnswerError, match="anchor"):
        exercises.check_central(with_attack(central, anchor="self"), best)
    with pytest.raises(AnswerError, match="against Krum"):
        exercises.check_central(dataclasses.replace(central, config=central.config.replace(aggregator=None)), best)
    with pytest.raises(AnswerError, match="kept no updates"):
        exercises.check_central(dataclasses.replace(central, updates={}), best)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_central(central, ...)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_central(..., best)


def test_a_boosted_attacker_moves_the_median_only_within_the_honest_bound(central):
    last = max(central.updates)
    stack = central.updates[last]
    row = next(i for i, a in enumerate(central.records[last - 1].agents) if a.is_malicious)
    weights = torch.full((len(stack),), 0.1)
    boosted = stack.clone()
    boosted[row] *= 100
    as_sent, far = coordinate_median(stack, weights).step, coordinate_median(boosted, weights).step
    fraction = (as_sent != far).double().mean().item()
    assert 0 < fraction < 1
    assert exercises.check_median_moves(fraction, central)
    low, high = exercises.median_bound(stack, row)
    assert bool((low <= far + 1e-6).all() and (far <= high + 1e-6).all()), "the bound holds whatever it sends"
    lower_middle = (stack.median(dim=0).values != boosted.median(dim=0).values).double().mean().item()
    with pytest.raises(AnswerError, match=r"torch\.median"):
        exercises.check_median_moves(lower_middle, central)
    with pytest.raises(AnswerError, match="should be"):
        exercises.check_median_moves(1.0, central)  # as if the median followed the boost everywhere, like a mean
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_median_moves(..., central)
    with pytest.raises(AnswerError, match="kept no updates"):
        exercises.check_median_moves(fraction, dataclasses.replace(central, updates={}))


def test_krum_picks_are_replayed_with_the_runs_own_rule(central):
    last = max(central.updates)
    agents = central.records[last - 1].agents
    row = next(i for i, a in enumerate(agents) if a.is_malicious)
    rule = central.config.aggregator
    server = ServerContext(weight_mask=weight_mask(build_model(central.config.model)))
    picks = {}
    for s in [0, 0.25, 0.5, 1, 2, 10, 100]:
        scaled = central.updates[last].clone()
        scaled[row] *= s
        chosen = rule(scaled, torch.full((len(scaled),), 0.1), server=server).selected
        picks[s] = agents[int(chosen.nonzero()[0])].agent_id
    recorded = next(a.agent_id for a in agents if a.selected)
    assert picks[1] == recorded, "s = 1 is the round as it was aggregated"
    assert picks[10] == picks[100], "far enough out, the outlier no longer counts for anyone"
    assert exercises.check_krum_outlier(picks, central)
    attacker = agents[row].agent_id
    never = {s: (attacker if picks[s] != attacker else (attacker + 1) % 10) for s in picks}
    with pytest.raises(AnswerError, match="Krum chooses agent"):
        exercises.check_krum_outlier(never, central)
    with pytest.raises(AnswerError, match="one entry for each scale"):
        exercises.check_krum_outlier({1: picks[1]}, central)
    with pytest.raises(AnswerError, match="against Krum"):
        exercises.check_krum_outlier(
            picks, dataclasses.replace(central, config=central.config.replace(aggregator=None))
        )
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_krum_outlier(..., central)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_krum_outlier(picks, ...)
