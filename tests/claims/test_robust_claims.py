"""What robust aggregation does against the paper's boosted attack, checked in seconds on small real data (the
smoke preset: 200 Fashion-MNIST images per agent, the real target 5454: Sandal → Sneaker, three rounds), and the two
geometric facts behind Chapter 7's model-A findings, on random vectors."""

from __future__ import annotations

import pytest
import torch
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.aggregators import Krum, Median, coordinate_median, krum
from fedutils.attacks import ExplicitBoosting


def _run(aggregator=None):
    config = preset("smoke", max_rounds=3, attack=ExplicitBoosting(), aggregator=aggregator)
    return run_experiment(config, QUIET)


def _attacker(record):
    return next(a for a in record.agents if a.is_malicious)


@pytest.fixture(scope="module")
def averaged():
    return _run()


def test_krum_never_picks_the_boosted_update_so_the_target_holds(averaged):
    assert max(r.target_confidence for r in averaged.records) > 0.8  # FedAvg lets the boosted update through
    krum = _run(Krum(f=1))
    assert not any(_attacker(r).selected for r in krum.records)
    assert max(r.target_confidence for r in krum.records) < 0.2


def test_the_median_takes_few_coordinates_from_the_boosted_update(averaged):
    median = _run(Median())
    fair_share = 1 / len(median.records[0].agents)
    assert all(_attacker(r).coordinate_share < fair_share for r in median.records)
    assert max(r.target_confidence for r in median.records) < 0.5 < max(r.target_confidence for r in averaged.records)


def test_in_many_dimensions_krum_prefers_a_short_update_to_honest_ones():
    """Chapter 7 on model A: honest updates far apart from one another leave a short update closest to all."""
    generator = torch.Generator().manual_seed(0)
    honest = torch.randn(9, 10_000, generator=generator)  # nearly orthogonal, norm ≈ 100, pairwise ≈ 141
    short = 0.7 * torch.randn(10_000, generator=generator)  # norm ≈ 70: about 122 from each honest update
    updates = torch.cat([honest, short[None]])
    weights = torch.full((10,), 0.1)
    for squared in (True, False):
        assert krum(updates, weights, f=1, squared=squared).selected.tolist() == [False] * 9 + [True]
    assert not krum(torch.cat([honest, 3 * short[None]]), weights, f=1).selected[-1]  # a long one is not chosen


def test_one_attacker_can_move_the_median_only_between_the_middle_honest_values():
    """Chapter 7's exercise: whatever the attacker sends, each coordinate's median of ten values stays within
    [(h(4) + h(5)) / 2, (h(5) + h(6)) / 2] of the nine honest values."""
    generator = torch.Generator().manual_seed(1)
    honest = torch.randn(9, 500, generator=generator)
    ordered = honest.sort(dim=0).values
    low, high = (ordered[3] + ordered[4]) / 2, (ordered[4] + ordered[5]) / 2
    for attacker in (torch.full((500,), 1e6), torch.full((500,), -1e6), torch.randn(500, generator=generator)):
        step = coordinate_median(torch.cat([honest, attacker[None]]), torch.full((10,), 0.1)).step
        assert torch.all(step >= low - 1e-6) and torch.all(step <= high + 1e-6)
