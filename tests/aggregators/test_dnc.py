"""DnC (Shejwalkar & Houmansadr 2021, Algorithm 2): a NumPy oracle on the same coordinate draws, planted
outliers removed, the draws reproducible, and its options."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import ServerContext
from fedutils.aggregators.coordinate import TrimmedMean
from fedutils.aggregators.dnc import COORDINATES, DnC, dnc, dnc_scores, draw_coordinates
from fedutils.errors import ConfigError

SERVER = ServerContext(seed=0, round_index=1)


def _oracle(x: np.ndarray, a: np.ndarray, f: int, c: float, draws: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 2 in NumPy: per draw, SVD of the centred sub-matrix, scores ⟨x_i − μ, v⟩², keep the n − ⌊cf⌋
    lowest; the α-weighted mean of the rows kept every time (zero if none)."""
    n = len(x)
    good = np.ones(n, dtype=bool)
    for r in draws:
        sub = x[:, r]
        centred = sub - sub.mean(axis=0)
        v = np.linalg.svd(centred, full_matrices=False)[2][0]
        scores = (centred @ v) ** 2
        kept = np.zeros(n, dtype=bool)
        kept[np.argsort(scores, kind="stable")[: n - int(c * f)]] = True
        good &= kept
    if not good.any():
        return np.zeros(x.shape[1]), good
    return (a * good) @ x / (a * good).sum(), good


def _stack(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) @ np.diag(rng.uniform(0.5, 2.0, size=d))  # unequal spread per coordinate
    return x, rng.uniform(0.1, 1.0, size=n)


@pytest.mark.parametrize(
    ("n", "d", "f", "c", "b", "seed"),
    [(6, 8, 1, 1.0, 5, 0), (12, 40, 3, 1.0, 15, 1), (25, 300, 4, 1.5, 60, 2), (9, 4, 2, 1.0, 10, 3)],
)
def test_the_good_set_and_the_step_are_algorithm_2_on_the_same_draws(n, d, f, c, b, seed):
    x, a = _stack(n, d, seed)
    draws = draw_coordinates(d, b, 4, torch.Generator().manual_seed(seed))
    result = dnc(torch.tensor(x), torch.tensor(a), f, draws, filter_frac=c)
    step, good = _oracle(x, a, f, c, [r.numpy() for r in draws])
    assert result.selected.tolist() == good.tolist()
    assert np.allclose(result.step.numpy(), step, rtol=1e-12, atol=1e-12)
    assert 0 < good.sum() < n  # the filter did something, and something is left


def test_the_scores_are_the_svds_whatever_the_sign_of_v():
    x, _ = _stack(10, 30, 4)
    centred = x - x.mean(axis=0)
    v = np.linalg.svd(centred, full_matrices=False)[2][0]
    for sign in (1.0, -1.0):
        assert np.allclose(dnc_scores(torch.tensor(x)).numpy(), (centred @ (sign * v)) ** 2, rtol=1e-9, atol=1e-12)


def test_planted_outliers_along_a_common_direction_are_removed():
    rng = np.random.default_rng(5)
    n, d, f = 20, 400, 3
    x = rng.normal(size=(n, d))
    x[-f:] += 1.5 * rng.choice([-1.0, 1.0], size=d)  # the same shift: 1.5 σ per coordinate, 30 along its line
    weights = torch.full((n,), 1 / n, dtype=torch.float64)
    result = DnC(f=f, sub_dim=100)(torch.tensor(x), weights, server=SERVER)
    assert result.selected.tolist() == [True] * (n - f) + [False] * f
    assert np.allclose(result.step.numpy(), x[: n - f].mean(axis=0), rtol=1e-12)
    honest_mean = x[: n - f].mean(axis=0)
    assert np.linalg.norm(x.mean(axis=0) - honest_mean) > 4.0  # the plain mean is moved, DnC's is not


def test_the_draws_follow_the_seed_and_the_round():
    x, a = _stack(8, 50, 6)
    rule = DnC(f=2, sub_dim=10, iterations=3)
    expected = dnc(
        torch.tensor(x), torch.tensor(a), 2, draw_coordinates(50, 10, 3, SERVER.generator(COORDINATES)), filter_frac=1.0
    )
    ours = rule(torch.tensor(x), torch.tensor(a), server=SERVER)
    assert torch.equal(ours.step, expected.step) and torch.equal(ours.selected, expected.selected)
    draws = draw_coordinates(50, 10, 3, SERVER.generator(COORDINATES))
    assert all(len(set(r.tolist())) == 10 for r in draws)  # without replacement
    assert not torch.equal(draws[0], draws[1])
    other = draw_coordinates(50, 10, 3, ServerContext(seed=0, round_index=2).generator(COORDINATES))
    assert not all(torch.equal(p, q) for p, q in zip(draws, other, strict=True))
    assert all(torch.equal(r, torch.arange(7)) for r in draw_coordinates(7, 10, 3, SERVER.generator(COORDINATES)))


def test_an_empty_intersection_gives_no_step():
    updates = torch.tensor([[0.0, 10.0], [1.0, 0.0], [10.0, 1.0]], dtype=torch.float64)
    weights = torch.full((3,), 1 / 3, dtype=torch.float64)
    # coordinate 0 keeps row 1 only, coordinate 1 keeps row 2 only (f = 2: one row kept per draw)
    result = dnc(updates, weights, 2, [torch.tensor([0]), torch.tensor([1])])
    assert not result.selected.any()
    assert torch.equal(result.step, torch.zeros(2, dtype=torch.float64))
    assert dnc(updates, weights, 2, [torch.tensor([0])]).selected.tolist() == [False, True, False]


def test_options_checks_and_the_shared_flag():
    fields = {f.name: f for f in dataclasses.fields(DnC)}
    trimmed = {f.name: f for f in dataclasses.fields(TrimmedMean)}["f"]
    assert fields["f"].metadata == trimmed.metadata and fields["f"].default == trimmed.default
    rule = DnC()
    assert (rule.f, rule.sub_dim, rule.iterations, rule.filter_frac) == (1, 10000, 5, 1.0)
    assert DnC(f=3).minimum_updates() == 4 and DnC(f=3, filter_frac=0.5).minimum_updates() == 2
    x, a = _stack(3, 5, 7)
    with pytest.raises(ConfigError, match=r"^DnC with f = 3 and filter_frac c = 1.0 drops 3 updates .* got 3\.$"):
        DnC(f=3)(torch.tensor(x), torch.tensor(a), server=SERVER)
    with pytest.raises(ValueError, match="dnc needs the run's seed"):
        DnC(f=1)(torch.tensor(x), torch.tensor(a), server=ServerContext())
    with pytest.raises(ValueError, match="at least one iteration"):
        dnc(torch.tensor(x), torch.tensor(a), 1, [])
    for bad, option in (
        ({"f": -1}, "f "),
        ({"sub_dim": 0}, "sub_dim"),
        ({"iterations": 0}, "iterations"),
        ({"filter_frac": -0.5}, "filter_frac"),
    ):
        with pytest.raises(ConfigError, match=option):
            DnC(**bad)


def test_on_the_meta_device_it_runs_without_a_host_sync():
    updates, weights = torch.empty(8, 40, device=META), torch.empty(8, device=META)
    with DeviceGuard() as guard:
        result = DnC(f=2, sub_dim=16)(updates, weights, server=SERVER)
    assert guard.violations == [] and guard.allowed == {}
    assert result.step.shape == (40,) and result.selected.shape == (8,)
