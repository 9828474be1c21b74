"""A Little Is Enough: z_max against the landscape note's table, the vector against ByzFL 0.0.11 and the authors'."""

from __future__ import annotations

import byzfl
import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.attacks.alie import alie, alie_z_max
from fedutils.errors import ConfigError


@pytest.mark.parametrize(
    ("n", "f", "z"),
    [(10, 1, -0.140), (10, 2, 0.0), (25, 5, 0.253), (50, 12, 0.336), (100, 10, 0.112), (100, 20, 0.286)],
)
def test_z_max_matches_the_table(n, f, z):
    assert round(alie_z_max(n, f), 3) == z


def test_z_max_is_the_normal_quantile_of_the_formula():
    # n = 7, f = 2: s = ⌊4.5⌋ − 2 = 2, (7 − 2 − 2) / 5 = 0.6, Φ^{-1}(0.6) = 0.2533471031357997
    assert alie_z_max(7, 2) == pytest.approx(0.2533471031357997, abs=1e-15)
    assert alie_z_max(3, 1) == 0.0  # (3 − 1 − 1) / 2 = 1/2


@pytest.mark.parametrize(("n", "f", "d", "seed"), [(10, 2, 5, 0), (25, 5, 100, 1), (50, 12, 33, 2), (7, 3, 1, 3)])
@pytest.mark.parametrize("fixed", [True, False])
def test_it_is_byzfls_alittleisenough(n, f, d, seed, fixed):
    honest = np.random.default_rng(seed).normal(size=(n - f, d)) * np.linspace(0.1, 3, d)
    z = 1.5 if fixed else alie_z_max(n, f)
    expected = byzfl.ALittleIsEnough(tau=float(z))(honest.copy())  # numpy float64 in, float64 out
    assert np.allclose(alie(torch.tensor(honest), z).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_the_authors_variant_subtracts_the_population_std():
    honest = np.random.default_rng(4).normal(size=(9, 6))
    ours = alie(torch.tensor(honest), 1.5, sign=-1, ddof=0).numpy()
    assert np.allclose(ours, honest.mean(0) - 1.5 * np.sqrt(((honest - honest.mean(0)) ** 2).mean(0)), atol=1e-12)
    assert not np.allclose(ours, alie(torch.tensor(honest), 1.5, sign=-1).numpy())  # ddof matters


def test_every_coordinate_sits_z_standard_deviations_from_the_honest_mean():
    honest = torch.tensor([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]], dtype=torch.float64)  # std (ddof 1): 2 and 0
    assert alie(honest, 1.5).tolist() == [5.0, 10.0]
    assert alie(honest, 1.5, sign=-1).tolist() == [-1.0, 10.0]


def test_it_keeps_the_dtype_and_device_and_runs_on_meta():
    assert alie(torch.randn(4, 3), 1.0).dtype == torch.float32
    with DeviceGuard() as guard:
        vector = alie(torch.empty(5, 8, device=META), 1.5)
    assert guard.violations == [] and vector.device == META and vector.shape == (8,)


def test_bad_input_names_the_option():
    with pytest.raises(ConfigError, match=r"^f \(the number of attackers\) must be below n/2"):
        alie_z_max(10, 5)
    with pytest.raises(ConfigError, match=r"^f \(the number of attackers\)"):
        alie_z_max(10, 0)
    with pytest.raises(ConfigError, match=r"^n \(the number of agents\)"):
        alie_z_max(10.5, 1)
    honest = torch.randn(4, 3)
    with pytest.raises(ConfigError, match=r"^sign"):
        alie(honest, 1.0, sign=0)
    with pytest.raises(ConfigError, match=r"^z "):
        alie(honest, float("nan"))
    with pytest.raises(ConfigError, match=r"^ddof"):
        alie(honest, 1.0, ddof=-1)
    with pytest.raises(ValueError, match="h > 1"):
        alie(honest[:1], 1.0)
