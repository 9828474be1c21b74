"""Nearest-neighbour mixing: ByzFL's NNM on random stacks and on stacks with an attacker's copies, the
neighbour sets, and honest rows that mix only honest rows."""

from __future__ import annotations

import byzfl
import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import ServerContext
from fedutils.aggregators.nnm import NearestNeighbourMixing, nearest_neighbour_mixing
from fedutils.errors import ConfigError

CASES = [(10, 1, 5), (10, 2, 40), (10, 3, 8), (25, 5, 7), (25, 0, 3), (7, 6, 4)]


def _equal(n: int) -> torch.Tensor:
    return torch.full((n,), 1 / n, dtype=torch.float64)


@pytest.mark.parametrize(("n", "f", "d"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_it_is_byzfl_nnm(n, f, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d))
    expected = byzfl.NNM(f=f)(x.copy())
    ours = NearestNeighbourMixing(f=f)(torch.tensor(x), _equal(n), server=ServerContext())
    assert np.allclose(ours.updates.numpy(), expected, rtol=0, atol=1e-12)
    if 0 < f < n - 1:
        assert not np.allclose(expected, x.mean(0))  # mixing is neither the identity nor the overall mean
        assert not np.allclose(expected, x)


@pytest.mark.parametrize(("n", "f", "d"), [(10, 3, 6), (25, 5, 7)])
def test_it_is_byzfl_nnm_with_an_attackers_identical_copies(n, f, d):
    rng = np.random.default_rng(n)
    x = np.vstack([rng.normal(size=(n - f, d)), np.tile(rng.normal(size=d) + 0.5, (f, 1))])  # tied distances
    expected = byzfl.NNM(f=f)(x.copy())
    ours = nearest_neighbour_mixing(torch.tensor(x), _equal(n), f)
    assert np.allclose(ours.updates.numpy(), expected, rtol=0, atol=1e-12)


def test_sources_are_the_neighbour_sets_and_weights_pass_unchanged():
    rng = np.random.default_rng(3)
    x, a = torch.tensor(rng.normal(size=(8, 3))), torch.tensor(rng.uniform(0.1, 1.0, size=8))
    out = nearest_neighbour_mixing(x, a, 3)
    assert out.weights is a
    assert out.sources.sum(dim=1).tolist() == [5] * 8
    assert out.sources.diagonal().all()  # each row is its own nearest
    distances = torch.cdist(x, x)
    for i in range(8):
        inside, outside = distances[i][out.sources[i]], distances[i][~out.sources[i]]
        assert inside.max() <= outside.min()
        assert torch.allclose(out.updates[i], x[out.sources[i]].mean(dim=0), rtol=0, atol=1e-14)


def test_equal_distances_go_to_the_lower_index():
    x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)  # rows 0 and 2 are both 1 from row 1
    out = nearest_neighbour_mixing(x, _equal(3), 1)
    assert out.sources[1].tolist() == [True, True, False]
    assert out.updates.flatten().tolist() == [0.5, 0.5, 1.5]


def test_honest_rows_mix_only_honest_rows_when_the_attackers_are_far():
    rng = np.random.default_rng(4)
    honest = torch.tensor(rng.normal(size=(8, 5)))
    stack = torch.cat([honest, torch.full((2, 5), 50.0, dtype=torch.float64)])
    out = NearestNeighbourMixing(f=2)(stack, _equal(10), server=ServerContext())
    # each honest row's 8 nearest are the 8 honest rows: it becomes their mean, the spread among them is gone
    assert torch.allclose(out.updates[:8], honest.mean(dim=0).expand(8, 5), rtol=0, atol=1e-12)
    assert not out.sources[:8, 8:].any()


def test_bad_f_is_refused():
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match=r"^f \(Byzantine"):
            NearestNeighbourMixing(f=bad)
    with pytest.raises(ConfigError, match=r"nearest-neighbour mixing with f = 3 needs n > f"):
        NearestNeighbourMixing(f=3)(torch.zeros(3, 2), torch.ones(3), server=ServerContext())
    assert NearestNeighbourMixing().f == 1
    assert NearestNeighbourMixing(f=4).rows_out(9) == 9


def test_it_runs_on_the_meta_device_without_host_syncs():
    updates, weights = torch.empty(7, 50, device=META), torch.empty(7, device=META)
    with DeviceGuard() as guard:
        out = NearestNeighbourMixing(f=2)(updates, weights, server=ServerContext())
    assert guard.violations == []
    assert out.updates.shape == (7, 50) and out.sources.shape == (7, 7) and out.updates.device == META
