"""Norm clipping with weak DP (Sun et al. 2019): the clipped FedAvg plus one Gaussian draw on the sum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import ServerContext
from fedutils.aggregators.clip_dp import ClipDP, clip_dp
from fedutils.aggregators.clipping import NormClip, norm_clipping
from fedutils.errors import ConfigError

SERVER = ServerContext(seed=0, round_index=1)


def _stack(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, size=(n, 1))  # some rows above M = 1, some below
    return torch.tensor(x), torch.tensor(rng.uniform(0.05, 0.3, size=n))


def _oracle(x: np.ndarray, a: np.ndarray, m: float, xi: np.ndarray) -> np.ndarray:
    """Σ α_i δ_i min(1, M/‖δ_i‖) + (Σ α / n) ξ, in NumPy from the formula."""
    norms = np.linalg.norm(x, axis=1)
    clipped = x * np.minimum(1.0, m / norms)[:, None]
    return a @ clipped + a.sum() / len(x) * xi


@pytest.mark.parametrize(("n", "d", "seed"), [(5, 3, 0), (10, 50, 1), (31, 7, 2)])
def test_the_step_is_the_formula_for_a_given_draw(n, d, seed):
    updates, weights = _stack(n, d, seed)
    noise = torch.tensor(np.random.default_rng(seed + 10).normal(size=d))
    result = clip_dp(updates, weights, 1.0, noise)
    expected = _oracle(updates.numpy(), weights.numpy(), 1.0, noise.numpy())
    assert np.allclose(result.step.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert result.clipped.tolist() == (updates.norm(dim=1) > 1.0).tolist()
    assert result.selected.all()


def test_without_noise_it_is_norm_clipping_bit_for_bit():
    updates, weights = _stack(9, 20, 3)
    expected = norm_clipping(updates, weights, 1.5)
    for result in (
        clip_dp(updates, weights, 1.5, torch.zeros(20, dtype=torch.float64)),
        ClipDP(max_norm=1.5, noise_std=0.0)(updates, weights, server=ServerContext()),  # σ = 0 draws nothing
    ):
        assert torch.equal(result.step, expected.step)
        assert torch.equal(result.clipped, expected.clipped)


def test_with_the_papers_weights_it_is_the_reference_gaussian_average():
    """α = 1/k with all k agents: (1/k)(Σ clip(δ_i) + ξ), tensorflow_privacy's GaussianAverageQuery."""
    updates, _ = _stack(6, 12, 4)
    xi = torch.tensor(np.random.default_rng(5).normal(scale=0.3, size=12))
    clipped = updates * (2.0 / updates.norm(dim=1)).clamp(max=1.0).unsqueeze(1)
    step = clip_dp(updates, torch.full((6,), 1 / 6, dtype=torch.float64), 2.0, xi).step
    assert torch.allclose(step, (clipped.sum(0) + xi) / 6, rtol=1e-13, atol=1e-15)


def test_the_noise_on_the_step_has_std_sigma_times_the_mean_weight():
    n, d, sigma = 4, 200_000, 0.5
    updates = torch.zeros(n, d, dtype=torch.float64)  # the step is the noise alone
    weights = torch.tensor([0.1, 0.2, 0.05, 0.15], dtype=torch.float64)  # Σα/n = 0.125
    step = ClipDP(max_norm=1.0, noise_std=sigma)(updates, weights, server=SERVER).step
    assert float(step.std()) == pytest.approx(sigma * 0.5 / n, rel=0.01)  # the std's own error is ≈ 0.16 %
    assert abs(float(step.mean())) < 5 * sigma * 0.125 / d**0.5


def test_the_draw_follows_the_seed_and_the_round():
    updates, weights = _stack(5, 30, 6)
    rule = ClipDP(max_norm=1.0)
    same = rule(updates, weights, server=SERVER).step
    assert torch.equal(same, rule(updates, weights, server=ServerContext(seed=0, round_index=1)).step)
    for other in (ServerContext(seed=0, round_index=2), ServerContext(seed=1, round_index=1)):
        assert not torch.allclose(same, rule(updates, weights, server=other).step)
    noise = same - norm_clipping(updates, weights, 1.0).step  # what was added is (Σα/n) ξ, ξ of std 0.025
    assert 0 < float(noise.abs().max()) < 5 * 0.025 * float(weights.sum()) / len(updates)


def test_a_boosted_update_moves_the_step_by_at_most_its_weight_times_m():
    updates, weights = _stack(8, 25, 7)
    noise = torch.tensor(np.random.default_rng(8).normal(scale=0.1, size=25))
    boosted = updates.clone()
    boosted[0] *= 1e6
    moved = clip_dp(boosted, weights, 1.0, noise).step - clip_dp(updates, weights, 1.0, noise).step
    assert float(moved.norm()) <= 2 * float(weights[0]) * 1.0 + 1e-12  # both versions of row 0 lie in the M-ball
    assert float((weights @ boosted - weights @ updates).norm()) > 1e4  # FedAvg's step is the attacker's


def test_options_and_the_shared_flag():
    clip_field = {f.name: f for f in dataclasses.fields(ClipDP)}["max_norm"]
    assert clip_field.metadata == {f.name: f for f in dataclasses.fields(NormClip)}["max_norm"].metadata
    assert clip_field.default is dataclasses.MISSING
    assert ClipDP(max_norm=3).noise_std == 0.025 and ClipDP(max_norm=3).max_norm == 3.0
    assert ClipDP.estimates_one_update is False
    with pytest.raises(TypeError):
        ClipDP()  # M has no default, as norm clipping's
    with pytest.raises(ConfigError, match="clip_norm"):
        ClipDP(max_norm=0)
    with pytest.raises(ConfigError, match="noise_std"):
        ClipDP(max_norm=1.0, noise_std=-0.1)
    with pytest.raises(ValueError, match="clip_dp needs the run's seed"):
        ClipDP(max_norm=1.0)(*_stack(3, 4, 0), server=ServerContext())
    with pytest.raises(ValueError, match="noise must have shape"):
        clip_dp(*_stack(3, 4, 0), 1.0, torch.zeros(5, dtype=torch.float64))


def test_on_the_meta_device_it_runs_without_a_host_sync():
    updates, weights = torch.empty(6, 40, device=META), torch.empty(6, device=META)
    with DeviceGuard() as guard:
        result = ClipDP(max_norm=1.0)(updates, weights, server=SERVER)
    assert guard.violations == [] and guard.allowed == {}
    assert result.step.shape == (40,) and result.step.device == META
