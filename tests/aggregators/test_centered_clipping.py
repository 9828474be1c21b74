"""Centered clipping: ByzFL's CenteredClipping (fresh and carried), a NumPy oracle with weights, the centre
carried from round to round, and an outlier's pull bounded by τ."""

from __future__ import annotations

import byzfl
import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import RuleState, ServerContext
from fedutils.aggregators.centered_clipping import CenteredClipping, CentreState, centered_clipping
from fedutils.aggregators.server import ServerRule
from fedutils.errors import ConfigError

SHAPES = [(10, 5, 0), (10, 40, 1), (25, 7, 2), (7, 3, 3)]


def _stack(n: int, d: int, seed: int) -> np.ndarray:
    """Rows of very different lengths, so that some are clipped at τ = the median length and some are not."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=(n, 1))


def _equal(n: int) -> torch.Tensor:
    return torch.full((n,), 1 / n, dtype=torch.float64)


class _OtherState(RuleState):
    """Another rule's memory."""

    def summary(self) -> dict[str, float]:
        return {}


def _oracle(x: np.ndarray, a: np.ndarray, v: np.ndarray, tau: float, steps: int) -> np.ndarray:
    """The paper's iteration v ← v + Σ ᾱ_i clip_τ(x_i − v), written in NumPy from the formula."""
    a = a / a.sum()
    for _ in range(steps):
        diff = x - v
        norm = np.linalg.norm(diff, axis=1)
        v = v + a @ (diff * np.minimum(1.0, tau / norm)[:, None])
    return v


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
@pytest.mark.parametrize("iterations", [1, 3])
def test_it_is_byzfl_centered_clipping_from_zero(n, d, seed, iterations):
    x = _stack(n, d, seed)
    tau = float(np.median(np.linalg.norm(x, axis=1)))
    expected = byzfl.CenteredClipping(L=iterations, tau=tau)(x.copy())  # a fresh instance: centre 0
    ours = CenteredClipping(tau=tau, iterations=iterations)(torch.tensor(x), _equal(n), server=ServerContext())
    assert np.allclose(ours.step.numpy(), expected, rtol=0, atol=1e-12)
    assert 0 < int(ours.clipped.sum()) < n  # τ cuts through the stack: the test can fail


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_the_carried_centre_is_byzfl_called_twice(n, d, seed):
    first, second = _stack(n, d, seed), _stack(n, d, seed + 100) + 3.0
    tau = float(np.median(np.linalg.norm(first, axis=1)))
    reference = byzfl.CenteredClipping(L=2, tau=tau)
    expected_first, expected_second = reference(first.copy()), reference(second.copy())  # its state: our state
    rule = CenteredClipping(tau=tau, iterations=2)
    round_1 = rule(torch.tensor(first), _equal(n), server=ServerContext(round_index=1))
    round_2 = rule(torch.tensor(second), _equal(n), server=ServerContext(round_index=2, state=round_1.state))
    assert np.allclose(round_1.step.numpy(), expected_first, rtol=0, atol=1e-12)
    assert np.allclose(round_2.step.numpy(), expected_second, rtol=0, atol=1e-12)
    fresh = byzfl.CenteredClipping(L=2, tau=tau)(second.copy())
    assert not np.allclose(round_2.step.numpy(), fresh, atol=1e-6)  # the carried centre matters here


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_with_weights_it_is_the_formula(n, d, seed):
    rng = np.random.default_rng(seed + 10)
    x, a, v = _stack(n, d, seed), rng.uniform(0.2, 2.0, size=n), rng.normal(size=d)
    expected = _oracle(x, a, v, 2.0, 4)
    ours = centered_clipping(torch.tensor(x), torch.tensor(a), torch.tensor(v), tau=2.0, iterations=4)
    assert np.allclose(ours.numpy(), expected, rtol=0, atol=1e-12)
    assert not np.allclose(expected, _oracle(x, np.ones(n), v, 2.0, 4), atol=1e-6)  # the weights count


def test_two_rounds_carry_the_centre():
    rng = np.random.default_rng(4)
    first, second = torch.tensor(rng.normal(size=(6, 4))), torch.tensor(rng.normal(size=(6, 4)) + 5.0)
    rule = CenteredClipping(tau=1.0, iterations=2)
    round_1 = rule(first, _equal(6), server=ServerContext(seed=0, round_index=1))
    assert isinstance(round_1.state, CentreState)
    assert torch.equal(round_1.state.centre, round_1.step)
    assert round_1.state.summary() == {"centre_norm": pytest.approx(float(round_1.step.norm()))}
    round_2 = rule(second, _equal(6), server=ServerContext(seed=0, round_index=2, state=round_1.state))
    from_first = centered_clipping(second, _equal(6), round_1.step, tau=1.0, iterations=2)
    from_zero = centered_clipping(second, _equal(6), torch.zeros(4, dtype=torch.float64), tau=1.0, iterations=2)
    assert torch.equal(round_2.step, from_first)
    assert not torch.allclose(round_2.step, from_zero)
    assert torch.equal(round_2.state.centre, round_2.step)


def test_an_outliers_pull_is_at_most_its_share_of_tau_per_iteration():
    rng = np.random.default_rng(5)
    honest = torch.tensor(rng.normal(size=(9, 8)) * 0.1)  # all well within τ = 1 of the centre 0
    weights = _equal(10)
    direction = torch.ones(8, dtype=torch.float64) / 8**0.5
    steps = {}
    for size in (10.0, 1e3, 1e9):
        stack = torch.cat([honest, size * direction.unsqueeze(0)])
        result = CenteredClipping(tau=1.0)(stack, weights, server=ServerContext())
        steps[size] = result.step
        assert result.clipped.tolist() == [False] * 9 + [True]
    honest_part = weights[:9] @ honest
    for step in steps.values():  # one iteration: the honest mean part plus exactly ᾱ τ towards the outlier
        assert torch.allclose(step, honest_part + 0.1 * 1.0 * direction, rtol=0, atol=1e-12)
    centre = torch.zeros(8, dtype=torch.float64)
    stack = torch.cat([honest, 1e9 * direction.unsqueeze(0)])
    for _ in range(5):  # every iteration moves the centre by at most τ, whatever the outlier's size
        moved = centered_clipping(stack, weights, centre, tau=1.0, iterations=1)
        assert float((moved - centre).norm()) <= 1.0 + 1e-12
        centre = moved
    assert float(centre.norm()) < 1.0  # after 5 iterations the outlier has pulled it ≤ 5 · ᾱ τ = 0.5


def test_clipped_flags_the_last_iteration():
    x = torch.tensor([[0.5, 0.0], [3.0, 0.0], [0.0, -3.0]], dtype=torch.float64)
    w = _equal(3)
    centre_1 = centered_clipping(x, w, torch.zeros(2, dtype=torch.float64), tau=1.0, iterations=1)
    result = CenteredClipping(tau=1.0, iterations=2)(x, w, server=ServerContext())
    expected = ((x - centre_1).norm(dim=1) > 1.0).tolist()
    assert result.clipped.tolist() == expected == [False, True, True]


def test_with_a_large_tau_one_iteration_is_the_weighted_mean():
    rng = np.random.default_rng(6)
    x, a = torch.tensor(rng.normal(size=(5, 3))), torch.tensor(rng.uniform(0.5, 1.5, size=5))
    result = CenteredClipping()(x, a, server=ServerContext())  # τ = 100 ≫ every distance
    assert torch.allclose(result.step, (a / a.sum()) @ x, rtol=0, atol=1e-14)
    assert not result.clipped.any()


def test_it_joins_a_server_rule_and_estimates_one_update():
    assert CenteredClipping.estimates_one_update
    assert CenteredClipping.needs == frozenset()
    assert (CenteredClipping().tau, CenteredClipping().iterations) == (100.0, 1)
    rule = ServerRule(CenteredClipping(tau=1.0))
    x = torch.tensor(np.random.default_rng(7).normal(size=(4, 3)))
    result = rule(x, torch.full((4,), 0.25, dtype=torch.float64), server=ServerContext())
    assert isinstance(result.state, CentreState)


def test_bad_options_and_states_are_refused():
    with pytest.raises(ConfigError, match="tau"):
        CenteredClipping(tau=0.0)
    with pytest.raises(ConfigError, match="tau"):
        CenteredClipping(tau=-1.0)
    with pytest.raises(ConfigError, match="iterations"):
        CenteredClipping(iterations=0)
    with pytest.raises(ConfigError, match="iterations"):
        CenteredClipping(iterations=1.5)
    x, w = torch.zeros(3, 2), torch.full((3,), 1 / 3)
    with pytest.raises(ValueError, match="CentreState"):
        CenteredClipping()(x, w, server=ServerContext(state=_OtherState()))
    with pytest.raises(ValueError, match="centre must have shape"):
        centered_clipping(x, w, torch.zeros(3), tau=1.0, iterations=1)


def test_it_runs_on_the_meta_device_without_host_syncs():
    updates, weights = torch.empty(6, 50, device=META), torch.empty(6, device=META)
    rule = CenteredClipping(tau=1.0, iterations=3)
    with DeviceGuard() as guard:
        first = rule(updates, weights, server=ServerContext())
        second = rule(updates, weights, server=ServerContext(state=first.state))
    assert guard.violations == []
    assert second.step.device == META and second.clipped.shape == (6,)
    assert np.isnan(second.state.summary()["centre_norm"])
