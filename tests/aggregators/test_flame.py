"""FLAME: cosine distances of the models, the admitted cluster, median-norm clipping and noise against NumPy oracles."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import sklearn.cluster
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import ServerContext, random_normal
from fedutils.aggregators.flame import NOISE_PURPOSE, Flame, cosine_distances, flame, flame_admitted, median_norm
from fedutils.errors import ConfigError


def _cosine_oracle(models: np.ndarray) -> np.ndarray:
    """1 − cos(W_i, W_j), from the definition, pair by pair."""
    n = len(models)
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = 1 - models[i] @ models[j] / (np.linalg.norm(models[i]) * np.linalg.norm(models[j]))
    return out


def _steps_3_to_5(updates: np.ndarray, weights: np.ndarray, admitted: np.ndarray, lam: float, noise: np.ndarray):
    """FLAME's steps 3–5 from the paper's formulas, given the admitted set: clip the admitted updates to the median
    of every update's norm, take their weighted mean, add λ·S times a standard normal draw."""
    norms = np.linalg.norm(updates, axis=1)
    s = float(np.median(norms))
    rows = [updates[i] * min(1.0, s / norms[i]) for i in range(len(updates)) if admitted[i]]
    alphas = weights[admitted] / weights[admitted].sum()
    return sum(a * r for a, r in zip(alphas, rows, strict=True)) + lam * s * noise, s


def _two_directions(n_honest: int, n_attackers: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A global model and updates: honest ones around one direction, the attackers' around an orthogonal one."""
    rng = np.random.default_rng(seed)
    u, v = np.linalg.qr(rng.normal(size=(d, 2)))[0].T  # two orthonormal directions
    honest = u + 0.02 * rng.normal(size=(n_honest, d)) / np.sqrt(d)
    attackers = 3.0 * v + 0.02 * rng.normal(size=(n_attackers, d)) / np.sqrt(d)
    global_params = 0.1 * rng.normal(size=d) / np.sqrt(d)
    return global_params, np.vstack([honest, attackers])


def test_cosine_distances_are_one_minus_the_cosine_of_each_pair():
    models = np.random.default_rng(0).normal(size=(6, 9))
    ours = cosine_distances(torch.tensor(models))
    assert np.allclose(ours.numpy(), _cosine_oracle(models), atol=1e-12)
    assert torch.equal(ours, ours.T) and torch.all(ours.diagonal() == 0) and torch.all(ours >= 0)


@pytest.mark.parametrize(("n_honest", "n_attackers", "d", "seed"), [(7, 3, 20, 0), (7, 3, 500, 1), (12, 5, 64, 2)])
def test_the_attackers_cluster_is_excluded_and_the_step_is_the_papers(n_honest, n_attackers, d, seed):
    global_params, updates = _two_directions(n_honest, n_attackers, d, seed)
    n = n_honest + n_attackers
    weights = np.random.default_rng(seed + 10).uniform(0.5, 1.5, size=n)
    result = flame(
        torch.tensor(updates), torch.tensor(weights), torch.tensor(global_params), torch.zeros(d, dtype=torch.float64)
    )
    admitted = result.selected.numpy()
    assert not admitted[n_honest:].any()  # every attacker out
    assert admitted.sum() >= n // 2 + 1  # the admitted cluster is a majority
    labels = result.cluster.numpy()
    expected = sklearn.cluster.HDBSCAN(
        metric="precomputed", min_cluster_size=n // 2 + 1, min_samples=1, allow_single_cluster=True, copy=True
    ).fit_predict(_cosine_oracle(updates + global_params))
    assert np.array_equal(labels, expected)
    step, _ = _steps_3_to_5(updates, weights, admitted, 0.001, np.zeros(d))
    assert np.allclose(result.step.numpy(), step, rtol=1e-12, atol=1e-14)
    everyone, _ = _steps_3_to_5(updates, weights, np.ones(n, dtype=bool), 0.001, np.zeros(d))
    assert not np.allclose(step, everyone)  # the exclusion changes the step: the test can fail


def test_in_float32_the_distances_of_models_sharing_the_global_model_keep_their_precision():
    """Models w_G + δ_i with ‖δ_i‖ ≪ ‖w_G‖ are nearly parallel: 1 − Ŵ_i·Ŵ_j in float32 is rounding noise."""
    rng = np.random.default_rng(7)
    models = 0.05 * rng.normal(size=10_000) + 1e-5 * rng.normal(size=(5, 10_000))
    truth = _cosine_oracle(models)  # float64, about 4e-8 off the diagonal
    ours = cosine_distances(torch.tensor(models, dtype=torch.float32)).double().numpy()
    assert np.allclose(ours, truth, rtol=1e-3, atol=1e-12)


def test_the_models_are_clustered_not_the_updates():
    """Two updates pointing opposite ways are far apart as updates, but near as models when w_G dominates."""
    global_params = torch.tensor([100.0, 0.0], dtype=torch.float64)
    updates = torch.tensor([[0.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    assert cosine_distances(updates)[0, 1] == 2.0
    assert cosine_distances(updates + global_params)[0, 1] < 1e-3


def test_the_median_norm_bounds_a_boosted_admitted_update():
    rng = np.random.default_rng(3)
    direction = rng.normal(size=30)
    updates = np.outer(rng.uniform(0.8, 1.2, size=8), direction) + 1e-3 * rng.normal(size=(8, 30))
    updates[2] *= 1000.0  # boosted, same direction: the clustering admits it
    weights = np.full(8, 1 / 8)
    result = flame(torch.tensor(updates), torch.tensor(weights), torch.zeros(30, dtype=torch.float64), torch.zeros(30))
    assert result.selected[2]
    assert result.clipped[2] and result.clipped.sum() == 4  # the four norms above the median (even n: between two)
    s = statistics.median(np.linalg.norm(updates, axis=1).tolist())
    assert result.step.norm() <= s * (1 + 1e-12)  # a mean of vectors of norm ≤ S
    assert np.linalg.norm(weights @ updates) > 100 * s  # FedAvg would have taken the boost
    step, oracle_s = _steps_3_to_5(updates, weights, result.selected.numpy(), 0.001, np.zeros(30))
    assert oracle_s == pytest.approx(s, rel=1e-15)
    assert np.allclose(result.step.numpy(), step, rtol=1e-12)


def test_the_median_of_an_even_count_is_the_mean_of_the_two_middle():
    norms = torch.tensor([4.0, 1.0, 3.0, 2.0], dtype=torch.float64)
    assert median_norm(norms) == 2.5 == statistics.median(norms.tolist())
    assert median_norm(norms[:3]) == 3.0
    assert torch.median(norms) == 2.0  # torch's lower median, which FLAME here does not use


def test_the_noise_is_lambda_times_the_median_norm():
    rng = np.random.default_rng(4)
    updates = torch.tensor(np.outer(rng.uniform(1, 3, size=5), np.ones(4)))
    args = (updates, torch.full((5,), 0.2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    quiet = flame(*args, torch.zeros(4, dtype=torch.float64), noise_lambda=0.5).step
    unit = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    noisy = flame(*args, unit, noise_lambda=0.5).step
    s = median_norm(updates.norm(dim=1))
    assert torch.allclose(noisy - quiet, 0.5 * s * unit, rtol=1e-12, atol=1e-15)


def test_the_rule_draws_its_noise_from_the_round_and_its_std_is_lambda_s():
    d = 200_000
    rng = np.random.default_rng(5)
    updates = torch.tensor(rng.normal(size=(2, 1)) + np.ones((2, d)))  # two nearly equal updates: one cluster
    weights = torch.full((2,), 0.5, dtype=torch.float64)
    server = ServerContext(global_params=torch.zeros(d, dtype=torch.float64), seed=11, round_index=3)
    rule = Flame(noise_lambda=0.01)
    step = rule(updates, weights, server=server).step
    s = median_norm(updates.norm(dim=1))
    quiet = flame(updates, weights, server.global_params, torch.zeros(d, dtype=torch.float64)).step
    expected = random_normal(quiet, 0.01 * s, server.generator(NOISE_PURPOSE, "cpu"))
    assert torch.allclose(step - quiet, expected, rtol=1e-9, atol=1e-12)
    assert float((step - quiet).std()) == pytest.approx(0.01 * float(s), rel=0.01)
    assert torch.equal(rule(updates, weights, server=server).step, step)  # same round, same draw
    assert not torch.equal(
        rule(updates, weights, server=server.for_round(4, global_params=server.global_params)).step, step
    )


def test_every_row_is_admitted_when_hdbscan_calls_all_noise(monkeypatch):
    """With ``allow_single_cluster=True`` no stack I tried made HDBSCAN label every row noise, so its labels are
    replaced here."""

    class AllNoise:
        def __init__(self, **options):
            self.options = options

        def fit_predict(self, matrix):
            return -np.ones(len(matrix), dtype=np.int64)

    monkeypatch.setattr(sklearn.cluster, "HDBSCAN", AllNoise)
    admitted, labels = flame_admitted(cosine_distances(torch.randn(5, 3, dtype=torch.float64)))
    assert admitted.all() and labels.tolist() == [-1] * 5


def test_a_tie_between_the_largest_clusters_goes_to_the_lowest_label():
    x = torch.tensor([0, 0.1, 5, 5.1, 5.2, 10, 10.1, 10.2], dtype=torch.float64)
    admitted, labels = flame_admitted((x[:, None] - x[None]).abs(), min_cluster_size=3)
    assert labels.tolist() == [-1, -1, 0, 0, 0, 1, 1, 1]  # two clusters of three
    assert admitted.tolist() == [False, False, True, True, True, False, False, False]


def test_on_meta_every_row_is_admitted_without_a_host_sync():
    updates, weights = torch.empty(6, 10, device=META), torch.empty(6, device=META)
    server = ServerContext(global_params=torch.empty(10, device=META), seed=0)
    with DeviceGuard() as guard:
        result = Flame()(updates, weights, server=server)
    assert guard.violations == []
    assert result.step.device == META and result.step.shape == (10,)
    assert result.selected.device == META and result.cluster.device == META


def test_bad_options_and_missing_server_facts_are_named():
    with pytest.raises(ConfigError, match="noise_lambda"):
        Flame(noise_lambda=-0.1)
    with pytest.raises(ConfigError, match="min_cluster_size"):
        Flame(min_cluster_size=1)
    assert Flame(min_cluster_size=4).minimum_updates() == 4 and Flame().minimum_updates() == 2
    updates, weights = torch.ones(3, 2), torch.full((3,), 1 / 3)
    with pytest.raises(ValueError, match="FLAME needs the global model"):
        Flame()(updates, weights, server=ServerContext(seed=0))
    with pytest.raises(ValueError, match="FLAME needs the run's seed"):
        Flame()(updates, weights, server=ServerContext(global_params=torch.zeros(2)))
