"""The rules fedutils had before ByzFL's were added, checked against ByzFL 0.0.11 (numpy float64 in, so ByzFL
does not cast to float32): coordinate median, trimmed mean, geometric median (ByzFL's variant), Krum and
Multi-Krum (their neighbour counts aligned), and pre-aggregators composed with a rule as ByzFL's
RobustAggregator composes them."""

from __future__ import annotations

import byzfl
import numpy as np
import pytest
import torch

from fedutils.aggregators.arc import AdaptiveRobustClipping
from fedutils.aggregators.base import ServerContext
from fedutils.aggregators.centered_clipping import CenteredClipping
from fedutils.aggregators.coordinate import TrimmedMean, coordinate_median, trimmed_mean
from fedutils.aggregators.geometric_median import GeometricMedian
from fedutils.aggregators.krum import Krum, krum, multi_krum
from fedutils.aggregators.nnm import NearestNeighbourMixing
from fedutils.aggregators.server import ServerRule

CASES = [(10, 1, 5), (10, 2, 30), (10, 3, 8), (25, 5, 7), (11, 4, 3)]
SEEDS = [0, 1, 2]
TOLERANCE = {"rtol": 0, "atol": 1e-12}


def _stack(n: int, d: int, seed: int) -> np.ndarray:
    """Rows of different spreads and lengths, a few near zero (where the geometric median's ν binds)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * rng.choice([0.01, 1.0, 5.0], size=(n, 1))


def _equal(n: int) -> torch.Tensor:
    return torch.full((n,), 1 / n, dtype=torch.float64)


@pytest.mark.parametrize(("n", "f", "d"), CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_coordinate_median_is_byzfls(n, f, d, seed):
    x = _stack(n, d, seed)
    ours = coordinate_median(torch.tensor(x), _equal(n)).step.numpy()
    assert np.allclose(ours, byzfl.Median()(x.copy()), **TOLERANCE)


@pytest.mark.parametrize(("n", "f", "d"), [*CASES, (10, 0, 4)])
@pytest.mark.parametrize("seed", SEEDS)
def test_trimmed_mean_is_byzfls(n, f, d, seed):
    x = _stack(n, d, seed)
    ours = trimmed_mean(torch.tensor(x), _equal(n), f).step.numpy()
    assert np.allclose(ours, byzfl.TrMean(f=f)(x.copy()), **TOLERANCE)


@pytest.mark.parametrize(("n", "f", "d"), CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_geometric_median_from_zero_is_byzfls(n, f, d, seed):
    x = _stack(n, d, seed)
    rule = GeometricMedian(start="zero", iterations=3, smoothing=0.1, tolerance=0)
    ours = rule(torch.tensor(x), _equal(n), server=ServerContext()).step.numpy()
    assert np.allclose(ours, byzfl.GeometricMedian(nu=0.1, T=3)(x.copy()), **TOLERANCE)


def _byzfl_krum_scores(x: np.ndarray, f: int) -> np.ndarray:
    """ByzFL's Krum score as its documentation states it: the mean squared distance to the n − f − 1 nearest."""
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    return np.sort(squared, axis=1)[:, 1 : len(x) - f].mean(axis=1)


@pytest.mark.parametrize(("n", "f", "d"), CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_krum_is_byzfls_krum_with_one_more_byzantine_agent(n, f, d, seed):
    # fedutils scores with Blanchard's n − f − 2 nearest, ByzFL with n − f − 1: ByzFL's f + 1 is our f.
    x = _stack(n, d, seed)
    expected = byzfl.Krum(f=f + 1)(x.copy())
    byzfl_row = int(np.flatnonzero((x == expected).all(axis=1))[0])
    assert byzfl_row == int(np.argmin(_byzfl_krum_scores(x, f + 1)))
    ours = krum(torch.tensor(x), _equal(n), f)
    assert ours.selected.nonzero().flatten().tolist() == [byzfl_row]
    assert np.array_equal(ours.step.numpy(), expected)


@pytest.mark.parametrize(("n", "f", "d"), CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_multi_krum_is_byzfls_multi_krum_with_one_more_byzantine_agent(n, f, d, seed):
    # ByzFL's MultiKrum(f + 1) averages the n − f − 1 best by the n − f − 2 nearest, so select n − f − 1 here
    # (fedutils' default, n − f, is one more).
    x = _stack(n, d, seed)
    expected = byzfl.MultiKrum(f=f + 1)(x.copy())
    byzfl_rows = sorted(np.argsort(_byzfl_krum_scores(x, f + 1), kind="stable")[: n - f - 1].tolist())
    assert np.allclose(x[byzfl_rows].mean(axis=0), expected, **TOLERANCE)  # the oracle is ByzFL's selection
    ours = multi_krum(torch.tensor(x), _equal(n), f, selected=n - f - 1)
    assert ours.selected.nonzero().flatten().tolist() == byzfl_rows
    assert np.allclose(ours.step.numpy(), expected, **TOLERANCE)


def test_with_the_same_f_krum_and_byzfls_krum_can_choose_differently():
    x = np.array([[0.0], [1.0], [3.0], [10.0], [11.0]])  # n = 5, f = 1: we use 2 neighbours, ByzFL 3
    assert krum(torch.tensor(x), _equal(5), 1).step.tolist() == [1.0]
    assert byzfl.Krum(f=1)(x.copy()).tolist() == [3.0]
    assert byzfl.Krum(f=2)(x.copy()).tolist() == [1.0]


COMPOSITIONS = [
    ("TrMean", lambda f: TrimmedMean(f=f), "NNM", lambda f: NearestNeighbourMixing(f=f)),
    ("Krum", lambda f: Krum(f=f - 1), "NNM", lambda f: NearestNeighbourMixing(f=f)),
    ("TrMean", lambda f: TrimmedMean(f=f), "ARC", lambda f: AdaptiveRobustClipping(f=f)),
]


@pytest.mark.parametrize(("n", "f", "d"), CASES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("rule_name", "rule", "stage_name", "stage"), COMPOSITIONS)
def test_a_rule_behind_a_pre_aggregator_is_byzfls_robust_aggregator(n, f, d, seed, rule_name, rule, stage_name, stage):
    x = _stack(n, d, seed)
    reference = byzfl.RobustAggregator(
        {"name": rule_name, "parameters": {"f": f}}, [{"name": stage_name, "parameters": {"f": f}}]
    )
    expected = reference.aggregate_vectors(x.copy())
    ours = ServerRule(rule(f), pre=(stage(f),))(torch.tensor(x), _equal(n), server=ServerContext())
    assert np.allclose(ours.step.numpy(), expected, **TOLERANCE)
    assert ours.selected.shape == (n,)


@pytest.mark.parametrize(("n", "f", "d"), CASES)
def test_centered_clipping_behind_nnm_is_byzfls_robust_aggregator(n, f, d):
    x = _stack(n, d, n + f)
    reference = byzfl.RobustAggregator(
        {"name": "CenteredClipping", "parameters": {"L": 2, "tau": 1.0}}, [{"name": "NNM", "parameters": {"f": f}}]
    )
    expected = reference.aggregate_vectors(x.copy())
    mixed = NearestNeighbourMixing(f=f)(torch.tensor(x), _equal(n), server=ServerContext())
    ours = CenteredClipping(tau=1.0, iterations=2)(mixed.updates, mixed.weights, server=ServerContext())
    assert np.allclose(ours.step.numpy(), expected, **TOLERANCE)


def test_centered_clipping_behind_nnm_in_a_server_rule():
    n, f, d = 10, 2, 5
    x = _stack(n, d, 0)
    expected = byzfl.RobustAggregator(
        {"name": "CenteredClipping", "parameters": {"L": 2, "tau": 1.0}}, [{"name": "NNM", "parameters": {"f": f}}]
    ).aggregate_vectors(x.copy())
    rule = ServerRule(CenteredClipping(tau=1.0, iterations=2), pre=(NearestNeighbourMixing(f=f),))
    ours = rule(torch.tensor(x), _equal(n), server=ServerContext())
    assert np.allclose(ours.step.numpy(), expected, **TOLERANCE)
