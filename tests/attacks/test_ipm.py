"""Inner Product Manipulation against ByzFL 0.0.11, and the threshold at which it turns the mean around."""

from __future__ import annotations

import byzfl
import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.attacks.ipm import ipm
from fedutils.errors import ConfigError


@pytest.mark.parametrize(("h", "d", "epsilon", "seed"), [(8, 5, 0.1, 0), (20, 100, 2.0, 1), (3, 1, 1.0, 2)])
def test_it_is_byzfls_innerproductmanipulation(h, d, epsilon, seed):
    honest = np.random.default_rng(seed).normal(size=(h, d))
    expected = byzfl.InnerProductManipulation(tau=epsilon)(honest.copy())
    assert np.allclose(ipm(torch.tensor(honest), epsilon).numpy(), expected, rtol=1e-12, atol=1e-15)


def test_the_mean_turns_against_the_honest_direction_once_f_epsilon_exceeds_h():
    honest = torch.tensor(np.random.default_rng(3).normal(loc=1.0, size=(7, 10)))
    mu = honest.mean(0)
    for epsilon, sign in [(2.0, 1), (3.0, -1)]:  # f = 3 copies: f ε = 6 < 7, then 9 > 7
        stack = torch.cat([honest, ipm(honest, epsilon).repeat(3, 1)])
        assert torch.sign(stack.mean(0) @ mu) == sign


def test_it_keeps_the_dtype_and_runs_on_meta():
    assert ipm(torch.randn(4, 3), 0.5).dtype == torch.float32
    with DeviceGuard() as guard:
        vector = ipm(torch.empty(5, 8, device=META), 0.1)
    assert guard.violations == [] and vector.device == META and vector.shape == (8,)


def test_bad_input_names_the_option():
    with pytest.raises(ConfigError, match=r"^epsilon"):
        ipm(torch.ones(2, 2), 0.0)
    with pytest.raises(ValueError, match="h ≥ 1"):
        ipm(torch.ones(2), 1.0)
