"""FLTrust (Cao et al. 2021): a NumPy oracle from the paper's formula, trust and rescaling, and its options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import ServerContext
from fedutils.aggregators.fltrust import BIASED_POOL, FLTrust, fltrust
from fedutils.errors import ConfigError


def _oracle(x: np.ndarray, g0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The step Σ TS_i (‖g0‖/‖x_i‖) x_i / Σ TS_i and TS, TS_i = ReLU(cos(x_i, g0)) (a zero row: cosine 0)."""
    trust = np.zeros(len(x))
    for i, row in enumerate(x):
        norm = np.linalg.norm(row) * np.linalg.norm(g0)
        trust[i] = max(0.0, row @ g0 / norm) if norm > 0 else 0.0
    if trust.sum() == 0:
        return np.zeros(x.shape[1]), trust
    step = sum(t * np.linalg.norm(g0) / np.linalg.norm(row) * row for t, row in zip(trust, x, strict=True) if t > 0)
    return step / trust.sum(), trust


def _case(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    g0 = rng.normal(size=d)
    signs = np.where(np.arange(n) % 3 == 2, -1.0, 1.0)[:, None]  # every third row leans away from g0
    x = signs * g0 + rng.normal(size=(n, d)) * rng.uniform(0.1, 2.0, size=(n, 1))  # mixed norms
    return torch.tensor(x), torch.tensor(rng.uniform(0.1, 1.0, size=n)), torch.tensor(g0)


@pytest.mark.parametrize(("n", "d", "seed"), [(3, 2, 0), (7, 10, 1), (20, 5, 2), (12, 300, 3)])
def test_the_step_and_the_trust_are_the_papers_formula(n, d, seed):
    updates, weights, g0 = _case(n, d, seed)
    result = fltrust(updates, weights, g0)
    step, trust = _oracle(updates.numpy(), g0.numpy())
    assert np.allclose(result.step.numpy(), step, rtol=1e-12, atol=1e-12)
    assert np.allclose(result.weight.numpy(), trust / trust.sum(), rtol=1e-12, atol=1e-15)
    assert result.selected.tolist() == (trust > 0).tolist()
    assert 0 < int(result.selected.sum()) < n  # both kinds of row are exercised
    # the paper weighs rows by trust alone: the agents' α do not matter
    assert torch.equal(fltrust(updates, torch.ones(n, dtype=torch.float64), g0).step, result.step)


def test_a_row_opposite_the_server_update_gets_no_weight():
    updates, weights, g0 = _case(6, 8, 4)
    updates[2] = -3.0 * g0
    result = fltrust(updates, weights, g0)
    assert float(result.weight[2]) == 0.0 and not bool(result.selected[2])
    assert torch.allclose(result.step, fltrust(updates[[0, 1, 3, 4, 5]], weights[[0, 1, 3, 4, 5]], g0).step)


def test_a_boosted_copy_of_the_server_update_is_rescaled_to_its_length():
    updates, weights, g0 = _case(6, 8, 5)
    updates[0] = g0
    boosted = updates.clone()
    boosted[0] = 100 * g0
    assert torch.allclose(fltrust(boosted, weights, g0).step, fltrust(updates, weights, g0).step, rtol=1e-13)
    alone = fltrust(torch.stack([100 * g0, -g0]), weights[:2], g0)
    assert torch.allclose(alone.step, g0, rtol=1e-14)  # its trust is 1 and its length ‖g_0‖
    assert alone.weight.tolist() == [1.0, 0.0]
    mean = (weights / weights.sum()) @ boosted  # the weighted mean is the attacker's
    assert float(mean.norm()) > 10 * float(fltrust(boosted, weights, g0).step.norm())


def test_zero_rows_and_no_trust_give_no_division_by_zero():
    updates, weights, g0 = _case(4, 6, 6)
    updates[1] = 0.0
    result = fltrust(updates, weights, g0)
    assert torch.isfinite(result.step).all() and float(result.weight[1]) == 0.0
    against = fltrust(torch.stack([-g0, -2 * g0, torch.zeros_like(g0)]), weights[:3], g0)
    assert torch.equal(against.step, torch.zeros(6, dtype=torch.float64))  # Σ TS = 0: the paper's no step
    assert against.weight.tolist() == [0.0, 0.0, 0.0] and not against.selected.any()
    nothing = fltrust(updates, weights, torch.zeros(6, dtype=torch.float64))  # g_0 = 0 trusts no one
    assert torch.equal(nothing.step, torch.zeros(6, dtype=torch.float64))


def test_the_class_reads_the_server_update_and_holds_the_root_set_options():
    updates, weights, g0 = _case(5, 7, 7)
    rule = FLTrust()
    server = ServerContext(seed=0, round_index=1, server_update=g0)
    assert torch.equal(rule(updates, weights, server=server).step, fltrust(updates, weights, g0).step)
    assert (rule.root_samples, rule.root_bias, rule.bias_class, rule.reserved_samples()) == (100, None, 0, 100)
    assert FLTrust(root_samples=40, root_bias=0.5, bias_class=3).reserved_samples() == 40 * BIASED_POOL
    assert FLTrust(root_bias=1).root_bias == 1.0
    with pytest.raises(ValueError, match=r"^fltrust needs the server's own update on its root data .*\.$"):
        rule(updates, weights, server=ServerContext(seed=0, round_index=1))
    with pytest.raises(ValueError, match="server_update must have shape"):
        fltrust(updates, weights, g0[:3])
    for bad, option in (
        ({"root_samples": 0}, "root_samples"),
        ({"root_bias": 1.5}, "root_bias"),
        ({"root_bias": -0.1}, "root_bias"),
        ({"bias_class": -1}, "bias_class"),
    ):
        with pytest.raises(ConfigError, match=option):
            FLTrust(**bad)


def test_on_the_meta_device_it_runs_without_a_host_sync():
    updates, weights = torch.empty(6, 40, device=META), torch.empty(6, device=META)
    server = ServerContext(seed=0, round_index=1, server_update=torch.empty(40, device=META))
    with DeviceGuard() as guard:
        result = FLTrust()(updates, weights, server=server)
    assert guard.violations == [] and guard.allowed == {}
    assert result.step.shape == (40,) and result.weight.shape == (6,)
