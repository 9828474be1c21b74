"""Adaptive robust clipping: ByzFL's ARC on random stacks and on tied norms, the exact k where ByzFL's
floating point falls short, honest-only stacks left alone, and boosted updates cut down to honest size."""

from __future__ import annotations

import byzfl
import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.arc import AdaptiveRobustClipping, adaptive_robust_clipping, clipped_count
from fedutils.aggregators.base import ServerContext
from fedutils.aggregators.coordinate import TrimmedMean
from fedutils.aggregators.server import ServerRule
from fedutils.errors import ConfigError

CASES = [(10, 1, 5), (10, 2, 40), (10, 3, 8), (25, 5, 7), (25, 12, 3), (7, 0, 4), (6, 6, 2), (9, 4, 3)]


def _stack(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=(n, 1))


def _equal(n: int) -> torch.Tensor:
    return torch.full((n,), 1 / n, dtype=torch.float64)


@pytest.mark.parametrize(("n", "f", "d"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_it_is_byzfl_arc(n, f, d, seed):
    x = _stack(n, d, seed)
    expected = byzfl.ARC(f=f)(x.copy())  # ByzFL writes into its input
    ours = AdaptiveRobustClipping(f=f)(torch.tensor(x), _equal(n), server=ServerContext())
    assert np.allclose(ours.updates.numpy(), expected, rtol=0, atol=1e-12)
    k = clipped_count(n, f)
    assert k == int((2 * f / n) * (n - f))  # ByzFL's k agrees for these n
    assert ours.clipped.tolist() == (~np.isclose(expected, x).all(axis=1)).tolist()
    assert int(ours.clipped.sum()) == k  # distinct norms: exactly the k largest


def test_tied_norms_give_byzfls_result_whichever_tied_row_counts_as_larger():
    rng = np.random.default_rng(2)
    base, flip = rng.normal(size=5), np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    x = np.vstack([rng.normal(size=(6, 5)) * 0.1, base, -base, base * flip, 3 * base])  # 3 equal norms
    n, f = len(x), 2  # k = ⌊2 · 2/10 · 8⌋ = 3: the threshold is the shared norm
    assert clipped_count(n, f) == 3 and len(set(np.linalg.norm(x[6:9], axis=1))) == 1  # exactly equal
    expected = byzfl.ARC(f=f)(x.copy())
    ours = adaptive_robust_clipping(torch.tensor(x), _equal(n), f)
    assert np.allclose(ours.updates.numpy(), expected, rtol=0, atol=1e-12)
    assert ours.clipped.tolist() == [False] * 9 + [True]  # the tied rows stay as they are
    assert np.isclose(np.linalg.norm(expected[-1]), np.linalg.norm(base))


def test_k_is_the_exact_floor_where_byzfls_floating_point_falls_one_short():
    n, f = 121, 66  # 2 · 66 · 55 / 121 = 60 exactly; ByzFL's float product gives 59.999…
    assert clipped_count(n, f) == 60 and int((2 * f / n) * (n - f)) == 59
    x = np.random.default_rng(3).normal(size=(n, 3)) * np.arange(1, n + 1)[:, None]  # distinct norms
    changed_by_byzfl = ~np.isclose(byzfl.ARC(f=f)(x.copy()), x).all(axis=1)
    ours = adaptive_robust_clipping(torch.tensor(x), _equal(n), f)
    assert int(changed_by_byzfl.sum()) == 59 and int(ours.clipped.sum()) == 60
    mismatches = [
        (n, f) for n in range(1, 121) for f in range(n + 1) if clipped_count(n, f) != int((2 * f / n) * (n - f))
    ]
    assert mismatches == []  # below n = 121 the two agree


@pytest.mark.parametrize(("n", "d"), [(10, 5), (25, 7)])
def test_with_f_zero_an_honest_stack_passes_unchanged(n, d):
    x = torch.tensor(_stack(n, d, n))
    out = AdaptiveRobustClipping(f=0)(x, _equal(n), server=ServerContext())
    assert torch.equal(out.updates, x)
    assert not out.clipped.any()


def test_boosted_updates_are_cut_to_the_largest_honest_norm():
    rng = np.random.default_rng(4)
    honest = torch.tensor(rng.normal(size=(8, 6)))
    boosted = 1e4 * torch.tensor(rng.normal(size=(2, 6)))
    stack = torch.cat([honest, boosted])
    out = adaptive_robust_clipping(stack, _equal(10), 2)  # k = 3 ≥ f: the boosted rows and the largest honest
    largest_honest = honest.norm(dim=1).sort(descending=True).values
    assert torch.allclose(out.updates[8:].norm(dim=1), largest_honest[1].expand(2), rtol=1e-12)
    assert out.updates.norm(dim=1).max() <= largest_honest[0]
    assert torch.allclose(
        out.updates[8:] / out.updates[8:].norm(dim=1, keepdim=True), boosted / boosted.norm(dim=1, keepdim=True)
    )
    assert out.clipped[8:].all() and int(out.clipped.sum()) == 3


def test_weights_pass_unchanged_and_it_composes_in_front_of_a_rule():
    rng = np.random.default_rng(5)
    x, a = torch.tensor(rng.normal(size=(9, 4))), torch.tensor(rng.uniform(0.1, 1.0, size=9))
    out = adaptive_robust_clipping(x, a, 3)
    assert out.weights is a and out.sources is None
    result = ServerRule(TrimmedMean(f=3), pre=(AdaptiveRobustClipping(f=3),))(x, a, server=ServerContext())
    expected = byzfl.TrMean(f=3)(byzfl.ARC(f=3)(x.numpy().copy()))
    assert np.allclose(result.step.numpy(), expected, rtol=0, atol=1e-12)
    assert result.clipped.tolist() == out.clipped.tolist()


def test_bad_f_is_refused():
    for bad in (-1, 2.5, False):
        with pytest.raises(ConfigError, match=r"^f \(Byzantine"):
            AdaptiveRobustClipping(f=bad)
    with pytest.raises(ConfigError, match="adaptive robust clipping with f = 4 needs n ≥ f"):
        AdaptiveRobustClipping(f=4)(torch.zeros(3, 2), torch.ones(3), server=ServerContext())
    assert AdaptiveRobustClipping().f == 1
    assert AdaptiveRobustClipping(f=2).rows_out(9) == 9


def test_it_runs_on_the_meta_device_without_host_syncs():
    updates, weights = torch.empty(7, 50, device=META), torch.empty(7, device=META)
    with DeviceGuard() as guard:
        out = AdaptiveRobustClipping(f=2)(updates, weights, server=ServerContext())
    assert guard.violations == []
    assert out.updates.shape == (7, 50) and out.clipped.shape == (7,) and out.updates.device == META
