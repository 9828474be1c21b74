"""The geometric median (RFA): an independent Weiszfeld oracle, the median's robustness, and ByzFL's variant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedutils.aggregators.geometric_median import GeometricMedian, WeiszfeldStart, geometric_median
from fedutils.aggregators.registry import AGGREGATORS
from fedutils.aggregators.server import ServerRule
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError


def _oracle(x: np.ndarray, a: np.ndarray, steps: int, nu: float, start_zero: bool) -> np.ndarray:
    """Smoothed Weiszfeld written from the paper's formula, in NumPy, without a stopping rule."""
    a = a / a.sum()
    z = np.zeros(x.shape[1]) if start_zero else a @ x
    for _ in range(steps):
        beta = a / np.maximum(nu, np.linalg.norm(x - z, axis=1))
        z = beta @ x / beta.sum()
    return z


@pytest.mark.parametrize(("n", "d", "seed"), [(5, 3, 0), (10, 50, 1), (31, 7, 2)])
@pytest.mark.parametrize("start", list(WeiszfeldStart))
def test_the_iteration_is_the_formulas(n, d, seed, start):
    rng = np.random.default_rng(seed)
    x, a = rng.normal(size=(n, d)), rng.uniform(0.5, 1.5, size=n)
    ours = geometric_median(torch.tensor(x), torch.tensor(a), iterations=6, smoothing=0.1, tolerance=0, start=start)
    expected = _oracle(x, a, 6, 0.1, start is WeiszfeldStart.ZERO)
    assert np.allclose(ours.step.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_converged_it_minimises_the_summed_distance_and_an_outlier_barely_moves_it():
    rng = np.random.default_rng(3)
    honest = torch.tensor(rng.normal(size=(9, 20)))
    weights = torch.full((10,), 0.1, dtype=torch.float64)
    far = torch.cat([honest, 1e3 * torch.ones(1, 20, dtype=torch.float64)])
    farther = torch.cat([honest, 1e6 * torch.ones(1, 20, dtype=torch.float64)])
    rule = GeometricMedian(iterations=500, tolerance=0)
    z = rule(far, weights, server=None).step
    objective = (far - z).norm(dim=1).sum()
    for nudge in torch.eye(20, dtype=torch.float64)[:5]:
        assert objective <= (far - (z + 1e-3 * nudge)).norm(dim=1).sum()  # a local (so the global) minimum
    assert torch.allclose(rule(farther, weights, server=None).step, z, atol=1e-3)  # 1000× further: same median
    assert (z - honest.mean(0)).norm() < 1.0 < (far.mean(0) - honest.mean(0)).norm()


def test_it_joins_the_server_by_name_with_its_options_and_checks_them():
    assert AGGREGATORS["geometric_median"] is GeometricMedian
    server = ServerRule.from_dict({"rule": "geometric_median", "iterations": 3, "smoothing": 0.1, "step": "unit"})
    assert server == ServerRule(GeometricMedian(iterations=3, smoothing=0.1))
    assert ServerRule.from_dict(server.to_dict()) == server
    assert ExperimentConfig(aggregator=GeometricMedian()).to_dict()["aggregator"]["rule"] == "geometric_median"
    with pytest.raises(ConfigError, match="iterations"):
        GeometricMedian(iterations=0)
    with pytest.raises(ConfigError, match="smoothing"):
        GeometricMedian(smoothing=0)
