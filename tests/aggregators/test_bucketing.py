"""Bucketing: ByzFL's Bucketing on the same permutation, a NumPy oracle with weights, FedAvg's step unchanged,
the round's shuffle from the run's seed, and a planted attacker diluted in front of the median."""

from __future__ import annotations

import math

import byzfl
import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import ServerContext, ServerNeed
from fedutils.aggregators.bucketing import SHUFFLE, Bucketing, bucketing
from fedutils.aggregators.coordinate import Median, coordinate_median
from fedutils.aggregators.mean import FedAvg, fedavg
from fedutils.aggregators.server import ServerRule
from fedutils.errors import ConfigError

CASES = [(10, 2, 5), (10, 3, 40), (25, 5, 7), (25, 2, 3), (7, 1, 4), (7, 7, 2), (5, 9, 3)]


def _equal(n: int) -> torch.Tensor:
    return torch.full((n,), 1 / n, dtype=torch.float64)


@pytest.mark.parametrize(("n", "s", "d"), CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_is_byzfl_bucketing_on_the_same_permutation(n, s, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d))
    np.random.seed(seed)
    expected = byzfl.Bucketing(s=s)(x.copy())  # ByzFL shuffles with np.random.permutation on the global RNG
    np.random.seed(seed)
    permutation = torch.tensor(np.random.permutation(n))
    ours = bucketing(torch.tensor(x), _equal(n), s, permutation)
    assert ours.updates.shape == expected.shape == (math.ceil(n / s), d)
    assert np.allclose(ours.updates.numpy(), expected, rtol=0, atol=1e-12)
    assert Bucketing(bucket_size=s).rows_out(n) == len(expected)


@pytest.mark.parametrize(("n", "s", "d"), CASES)
def test_with_weights_each_bucket_is_its_weighted_mean_with_its_summed_weight(n, s, d):
    rng = np.random.default_rng(n * s)
    x, a, perm = rng.normal(size=(n, d)), rng.uniform(0.1, 2.0, size=n), rng.permutation(n)
    ours = bucketing(torch.tensor(x), torch.tensor(a), s, torch.tensor(perm))
    for k, start in enumerate(range(0, n, s)):  # the oracle: runs of s along the permutation
        rows = perm[start : start + s]
        assert np.allclose(ours.updates[k].numpy(), a[rows] @ x[rows] / a[rows].sum(), rtol=0, atol=1e-12)
        assert ours.weights[k].item() == pytest.approx(a[rows].sum(), abs=1e-14)
        assert ours.sources[k].numpy().nonzero()[0].tolist() == sorted(rows.tolist())
    assert ours.sources.sum(dim=0).tolist() == [1] * n  # every row in exactly one bucket


@pytest.mark.parametrize(("n", "s", "d"), CASES)
def test_fedavg_after_bucketing_takes_fedavgs_step(n, s, d):
    rng = np.random.default_rng(n + s)
    x, a = torch.tensor(rng.normal(size=(n, d))), torch.tensor(rng.uniform(0.0, 0.3, size=n))
    out = bucketing(x, a, s, torch.tensor(rng.permutation(n)))
    assert torch.allclose(fedavg(out.updates, out.weights).step, fedavg(x, a).step, rtol=0, atol=1e-12)
    server = ServerContext(seed=3, round_index=2)
    assert torch.allclose(
        ServerRule(FedAvg(), pre=(Bucketing(bucket_size=s),))(x, a, server=server).step,
        fedavg(x, a).step,
        rtol=0,
        atol=1e-12,
    )


def test_a_bucket_without_weight_passes_its_plain_mean():
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]], dtype=torch.float64)
    out = bucketing(x, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), 2, torch.tensor([0, 1, 2]))
    assert out.updates.tolist() == [[2.0, 1.0], [5.0, 5.0]]
    assert out.weights.tolist() == [0.0, 1.0]


def test_the_class_shuffles_with_the_runs_seed_and_round():
    x = torch.tensor(np.random.default_rng(8).normal(size=(9, 3)))
    rule = Bucketing(bucket_size=2)
    server = ServerContext(seed=0, round_index=1)
    permutation = torch.randperm(9, generator=server.generator(SHUFFLE, "cpu", "bucketing"))
    assert not torch.equal(permutation, torch.arange(9))
    out = rule(x, _equal(9), server=server)
    assert torch.equal(out.updates, bucketing(x, _equal(9), 2, permutation).updates)
    assert torch.equal(rule(x, _equal(9), server=server).updates, out.updates)  # same seed and round: same
    later = rule(x, _equal(9), server=ServerContext(seed=0, round_index=2))
    assert not torch.equal(later.updates, out.updates)  # another round: another shuffle
    assert Bucketing.needs == frozenset({ServerNeed.RANDOMNESS})
    assert ServerRule(Median(), pre=(rule,)).needs == frozenset({ServerNeed.RANDOMNESS})
    with pytest.raises(ValueError, match="bucketing needs the run's seed"):
        rule(x, _equal(9), server=ServerContext())


def test_bucketing_dilutes_planted_copies_in_front_of_the_median():
    # Heterogeneous honest agents (half at +1, half at −1; their median is their mean, 0) and two copies of
    # an attacker at +1, which tip the median over to +1. Buckets of two mostly pair the copies with honest
    # updates of the other group, and the median of the buckets comes back to 0.
    honest = torch.cat([torch.ones(6, 4), -torch.ones(6, 4)]).double()
    stack = torch.cat([honest, torch.ones(2, 4, dtype=torch.float64)])
    weights = _equal(14)
    assert coordinate_median(honest, weights[:12]).step.abs().max() == 0.0
    assert coordinate_median(stack, weights).step.tolist() == [1.0] * 4
    rule = ServerRule(Median(), pre=(Bucketing(bucket_size=2),))
    errors = [
        float(rule(stack, weights, server=ServerContext(seed=0, round_index=t)).step.abs().max()) for t in range(50)
    ]
    assert sum(errors) / len(errors) < 0.25


def test_bad_bucket_sizes_are_refused():
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ConfigError, match="bucket_size"):
            Bucketing(bucket_size=bad)
    with pytest.raises(ConfigError, match="bucket_size"):
        bucketing(torch.zeros(3, 2), torch.ones(3), 0, torch.arange(3))
    with pytest.raises(ValueError, match="permutation must have shape"):
        bucketing(torch.zeros(3, 2), torch.ones(3), 2, torch.arange(4))
    assert Bucketing().bucket_size == 2


def test_it_runs_on_the_meta_device_without_host_syncs():
    updates, weights = torch.empty(7, 50, device=META), torch.empty(7, device=META)
    with DeviceGuard() as guard:
        out = Bucketing(bucket_size=3)(updates, weights, server=ServerContext(seed=0, round_index=1))
    assert guard.violations == []
    assert out.updates.shape == (3, 50) and out.sources.shape == (3, 7) and out.updates.device == META
