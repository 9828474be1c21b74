"""Min-Max and Min-Sum: the search against a NumPy oracle of the reference's, the result at the edge of the
feasible set, and what the two bounds do and do not say about each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.attacks.min_max import (
    Perturbation,
    PerturbedMean,
    min_max,
    min_max_bound,
    min_sum,
    min_sum_bound,
    perturbation_vector,
)
from fedutils.errors import ConfigError


def _oracle(x: np.ndarray, kind: str, variant: str, gamma0: float = 10.0, tol: float = 1e-5):
    """The paper's attack from its description: δ = μ − γ p, the largest γ by the halving search, in NumPy."""
    mu = x.mean(axis=0)
    p = {"unit_vec": mu / np.linalg.norm(mu), "sign": np.sign(mu), "std": x.std(axis=0, ddof=1)}[kind]
    pair = np.array([[np.sum((a - b) ** 2) for b in x] for a in x])
    if variant == "min_max":
        bound = pair.max()
        ok = lambda g: np.max(np.sum((x - (mu - g * p)) ** 2, axis=1)) <= bound  # noqa: E731
    else:
        bound = pair.sum(axis=1).min()
        ok = lambda g: np.sum((x - (mu - g * p)) ** 2) <= bound  # noqa: E731
    lam, fail, succ = gamma0, gamma0, 0.0
    while abs(succ - lam) > tol:
        if ok(lam):
            succ = lam
            lam = lam + fail / 2
        else:
            lam = lam - fail / 2
        fail = fail / 2
    return mu - succ * p, succ, ok


ATTACKS = {"min_max": min_max, "min_sum": min_sum}


def _stack(h: int, d: int, seed: int) -> np.ndarray:
    """h honest updates around a common direction, of norm about 1 whatever d (so γ* stays below the ceiling)."""
    rng = np.random.default_rng(seed)
    return (0.3 + rng.normal(size=(h, d)) * rng.uniform(0.2, 2.0, size=d)) / np.sqrt(d)


@pytest.mark.parametrize("variant", list(ATTACKS))
@pytest.mark.parametrize("kind", list(Perturbation))
@pytest.mark.parametrize(("h", "d", "seed"), [(5, 3, 0), (10, 50, 1), (23, 200, 2)])
def test_the_search_is_the_references(variant, kind, h, d, seed):
    x = _stack(h, d, seed)
    expected, gamma, ok = _oracle(x, kind.value, variant)
    result = ATTACKS[variant](torch.tensor(x), kind)
    assert isinstance(result, PerturbedMean)
    assert result.gamma == gamma  # the same halving steps: bit for bit
    assert np.allclose(result.update.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert 0 < gamma < 2 * 10.0 - 2e-5  # found inside the search's range, so the bracket closes:
    assert ok(gamma) and not ok(gamma + 2e-5)  # feasible, and 2·tolerance further is not


@pytest.mark.parametrize(("h", "d", "seed"), [(4, 2, 3), (10, 50, 4), (30, 7, 5)])
def test_min_sums_bound_is_no_looser_than_min_maxs(h, d, seed):
    """Min-Max caps every squared distance to the honest updates by M, so their sum by h·M; Min-Sum caps the sum
    itself by m = min_i Σ_j ‖x_i − x_j‖² ≤ (h − 1)·M (h − 1 terms, each ≤ M)."""
    x = torch.tensor(_stack(h, d, seed))
    big_m, m = min_max_bound(x), min_sum_bound(x)
    assert m <= (h - 1) * big_m
    assert ((x - min_max(x).update).norm(dim=1).square() <= big_m).all()
    assert (x - min_sum(x).update).norm(dim=1).square().sum() <= m <= h * big_m


def test_min_sums_gamma_is_the_distance_of_the_honest_update_nearest_the_mean():
    """Σ_i ‖μ − γ p − x_i‖² = Σ_i ‖x_i − μ‖² + h γ² ‖p‖² and Σ_j ‖x_k − x_j‖² = Σ_j ‖x_j − μ‖² + h ‖x_k − μ‖², so
    Min-Sum's γ* = min_k ‖x_k − μ‖ / ‖p‖."""
    x = torch.tensor(_stack(12, 40, 6))
    for kind in Perturbation:
        p = perturbation_vector(x, kind)
        exact = float((x - x.mean(0)).norm(dim=1).min() / p.norm())
        assert min_sum(x, kind).gamma == pytest.approx(exact, abs=2e-5)


def test_neither_gamma_bounds_the_other():
    """An equilateral triangle around μ with p pointing at a vertex: Min-Sum goes to γ = 1 (the radius), Min-Max
    only to √3 − 1, where the far vertex is a side's length away. Put an honest update at μ instead and Min-Sum
    cannot move at all while Min-Max can."""
    centre = torch.tensor([0.0, 5.0], dtype=torch.float64)  # μ, so p = μ/‖μ‖ = (0, 1) points at the first vertex
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64).deg2rad()
    triangle = centre + torch.stack([angles.cos(), angles.sin()], dim=1)
    assert min_sum(triangle).gamma == pytest.approx(1.0, abs=2e-5)
    assert min_max(triangle).gamma == pytest.approx(math.sqrt(3) - 1, abs=2e-5)
    with_mean = torch.cat([triangle, centre.unsqueeze(0)])
    assert min_sum(with_mean).gamma < 2e-5 < 0.5 < min_max(with_mean).gamma


def test_the_search_never_goes_beyond_twice_gamma_init():
    x = torch.tensor([[0.0, 100.0], [0.0, -100.0], [1.0, 0.0]], dtype=torch.float64)  # a wide spread, a small μ
    result = min_max(x, gamma_init=1.0)
    assert 2.0 - 2e-5 <= result.gamma < 2.0  # γ* is about 199: the reference's search stops at its ceiling


def test_it_keeps_the_dtype_and_runs_on_meta_without_reading_the_device():
    assert min_max(torch.randn(4, 3)).update.dtype == torch.float32
    for attack in (min_max, min_sum):
        with DeviceGuard() as guard:
            result = attack(torch.empty(5, 8, device=META), "std")
        assert guard.violations == [] and result.update.device == META and result.update.shape == (8,)
        assert result.gamma == 0.0  # meta has no values: every γ counts as infeasible


def test_bad_input_names_the_option():
    x = torch.randn(4, 3)
    with pytest.raises(ConfigError, match=r"^perturbation must be one of unit_vec, sign, std"):
        min_max(x, "gaussian")
    with pytest.raises(ConfigError, match=r"^gamma_init"):
        min_sum(x, gamma_init=0.0)
    with pytest.raises(ConfigError, match=r"^tolerance"):
        min_max(x, tolerance=-1e-5)
    with pytest.raises(ValueError, match="h ≥ 2"):
        min_sum(x[:1], Perturbation.STD)
