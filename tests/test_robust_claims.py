"""What robust aggregation does against the paper's boosted attack, checked in seconds on small real data (the
smoke preset: 200 Fashion-MNIST images per agent, the real target 5454: Sandal → Sneaker, three rounds)."""

from __future__ import annotations

import pytest

from fedutils import preset, run_experiment
from fedutils.aggregators import AggregationRule
from fedutils.attacks import ExplicitBoosting


def _run(aggregator=None):
    config = preset("smoke", max_rounds=3, attack=ExplicitBoosting(), aggregator=aggregator)
    return run_experiment(config, cache=False, progress=False, download=False)


def _attacker(record):
    return next(a for a in record.agents if a.is_malicious)


@pytest.fixture(scope="module")
def averaged():
    return _run()


def test_krum_never_picks_the_boosted_update_so_the_target_holds(averaged):
    assert max(r.target_confidence for r in averaged.records) > 0.8  # FedAvg lets the boosted update through
    krum = _run(AggregationRule("krum", f=1))
    assert not any(_attacker(r).selected for r in krum.records)
    assert max(r.target_confidence for r in krum.records) < 0.2


def test_the_median_takes_few_coordinates_from_the_boosted_update(averaged):
    median = _run(AggregationRule("median"))
    fair_share = 1 / len(median.records[0].agents)
    assert all(_attacker(r).coordinate_share < fair_share for r in median.records)
    assert max(r.target_confidence for r in median.records) < 0.5 < max(r.target_confidence for r in averaged.records)
