"""FoolsGold (Fung et al. 2020): a NumPy oracle of its weights, sybils weighed down, histories kept per agent id."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from device_guard import META, DeviceGuard

from fedutils.aggregators.base import ServerContext
from fedutils.aggregators.foolsgold import FoolsGold, HistoryState, foolsgold, foolsgold_weights
from fedutils.errors import ConfigError


def _oracle_weights(h: np.ndarray, kappa: float = 1.0, eps: float = 1e-5) -> np.ndarray:
    """The paper's steps in NumPy: cosines of the histories (own similarity 0), pardoning, 1 − max, logit."""
    n = len(h)
    cs = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            norm = np.linalg.norm(h[i]) * np.linalg.norm(h[j])
            if i != j and norm > 0:
                cs[i, j] = h[i] @ h[j] / norm
    v = cs.max(axis=1) + eps
    pardoned = cs.copy()
    for i in range(n):
        for j in range(n):
            if i != j and v[i] < v[j]:
                pardoned[i, j] = cs[i, j] * v[i] / v[j]
    a = np.clip(1 - pardoned.max(axis=1), 0, 1)
    if a.max() > 0:
        a = a / a.max()
    a[a == 1] = 0.99
    with np.errstate(divide="ignore"):
        a = kappa * (np.log(a / (1 - a) + eps) + 0.5)
    a[np.isposinf(a) | (a >= 1)] = 1
    a[a < 0] = 0
    return a


def _histories(n: int, d: int, seed: int) -> np.ndarray:
    """Rows sharing one direction with strengths s_i from 0 to 0.95, so their cosines (≈ s_i s_j) spread out,
    plus a near-duplicate pair."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=d)
    e = rng.normal(size=(n, d))
    s = rng.uniform(0.0, 0.95, size=(n, 1))
    h = s * u / np.linalg.norm(u) + np.sqrt(1 - s**2) * e / np.linalg.norm(e, axis=1, keepdims=True)
    h *= rng.uniform(0.5, 3.0, size=(n, 1))
    h[1] = 1.5 * h[0] + 0.05 * rng.normal(size=d)
    return h


@pytest.mark.parametrize(("n", "d", "seed"), [(4, 5, 0), (8, 20, 1), (15, 50, 2), (30, 8, 3)])
@pytest.mark.parametrize(("kappa", "eps"), [(1.0, 1e-5), (0.5, 1e-5), (2.0, 0.0)])
def test_the_weights_are_the_papers_steps(n, d, seed, kappa, eps):
    h = _histories(n, d, seed)
    ours = foolsgold_weights(torch.tensor(h), kappa=kappa, epsilon=eps).numpy()
    expected = _oracle_weights(h, kappa, eps)
    assert np.allclose(ours, expected, rtol=1e-12, atol=1e-12)
    assert len(set(expected.round(12))) >= 2 and (expected == 0).sum() >= 2  # the near-duplicates drop out


def test_the_step_is_the_references_sum_divided_by_the_weights_total():
    rng = np.random.default_rng(4)
    updates = rng.normal(size=(9, 12))
    h = _histories(9, 12, 4)
    a = _oracle_weights(h)
    equal = torch.full((9,), 1 / 9, dtype=torch.float64)
    result = foolsgold(torch.tensor(updates), equal, torch.tensor(h))
    reference = updates.T @ a  # the reference's np.dot(delta.T, wv): a weighted sum
    assert np.allclose(result.step.numpy() * a.sum(), reference, rtol=1e-12, atol=1e-12)
    assert np.allclose(result.weight.numpy(), a / a.sum(), rtol=1e-12)
    assert result.selected.tolist() == (a > 0).tolist()
    alpha = rng.uniform(0.1, 1.0, size=9)  # unequal α: the a·α-weighted mean
    weighted = foolsgold(torch.tensor(updates), torch.tensor(alpha), torch.tensor(h))
    assert np.allclose(weighted.step.numpy(), (a * alpha) @ updates / (a * alpha).sum(), rtol=1e-12)


def test_sybils_sending_one_update_get_no_weight_and_honest_agents_keep_theirs():
    rng = np.random.default_rng(5)
    honest = rng.normal(size=(6, 40))  # diverse: nearly orthogonal in 40 dimensions
    sybil = rng.normal(size=40) + 3.0
    updates = torch.tensor(np.vstack([honest, np.tile(sybil, (3, 1))]))
    weights = torch.full((9,), 1 / 9, dtype=torch.float64)
    rule = FoolsGold()
    result = rule(updates, weights, server=ServerContext(seed=0, round_index=1, agent_ids=tuple(range(9))))
    assert result.weight[6:].tolist() == [0.0, 0.0, 0.0] and not result.selected[6:].any()
    assert (result.weight[:6] > 0).all()
    assert torch.allclose(result.step, updates[:6].mean(0), rtol=1e-12)
    assert float((updates.mean(0) - updates[:6].mean(0)).norm()) > 1.0  # the plain mean is pulled by them


def test_the_history_is_kept_per_agent_id_not_per_row():
    first, second = _histories(4, 10, 6), _histories(4, 10, 7)
    weights = torch.full((4,), 0.25, dtype=torch.float64)
    rule = FoolsGold()
    round_1 = rule(torch.tensor(first), weights, server=ServerContext(seed=0, round_index=1, agent_ids=(0, 1, 2, 3)))
    assert isinstance(round_1.state, HistoryState)
    later = ServerContext(seed=0, round_index=2, agent_ids=(3, 7, 1, 5), state=round_1.state)
    round_2 = rule(torch.tensor(second), weights, server=later)
    histories = {0: first[0], 1: first[1] + second[2], 2: first[2], 3: first[3] + second[0], 7: second[1], 5: second[3]}
    assert set(round_2.state.histories) == set(histories)
    for agent, expected in histories.items():
        assert np.allclose(round_2.state.histories[agent].numpy(), expected, rtol=1e-14)
    a = _oracle_weights(np.stack([histories[agent] for agent in (3, 7, 1, 5)]))
    assert np.allclose(round_2.weight.numpy(), a / a.sum(), rtol=1e-12)
    by_row = _oracle_weights(first + second)  # what keying by position would give
    assert not np.allclose(a / a.sum(), by_row / by_row.sum())
    summary = round_2.state.summary()
    assert summary["agents_with_history"] == 6.0
    assert summary["history_norm_max"] == pytest.approx(max(np.linalg.norm(h) for h in histories.values()))
    assert set(round_1.state.histories) == {0, 1, 2, 3}  # the earlier state is left as it was
    assert HistoryState().summary() == {"agents_with_history": 0.0, "history_norm_max": 0.0}


def test_when_every_agent_looks_alike_the_step_is_zero():
    same = torch.ones(5, 3, dtype=torch.float64)
    result = foolsgold(same, torch.full((5,), 0.2, dtype=torch.float64), same)
    assert torch.equal(result.step, torch.zeros(3, dtype=torch.float64))  # the reference divides 0 by 0 here
    assert result.weight.tolist() == [0.0] * 5 and not result.selected.any()


def test_what_it_needs_and_its_options():
    updates, weights = torch.ones(3, 4, dtype=torch.float64), torch.full((3,), 1 / 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^foolsgold needs the ids of the agents whose updates these are .*\.$"):
        FoolsGold()(updates, weights, server=ServerContext(seed=0, round_index=1))
    with pytest.raises(ValueError, match="3 distinct agents"):
        FoolsGold()(updates, weights, server=ServerContext(seed=0, round_index=1, agent_ids=(1, 1, 2)))
    with pytest.raises(ValueError, match="3 distinct agents"):
        FoolsGold()(updates, weights, server=ServerContext(seed=0, round_index=1, agent_ids=(1, 2)))
    with pytest.raises(ValueError, match="carries a HistoryState"):
        FoolsGold()(updates, weights, server=ServerContext(seed=0, round_index=1, agent_ids=(0, 1, 2), state=object()))
    with pytest.raises(ValueError, match="histories must have"):
        foolsgold(updates, weights, updates[:2])
    assert (FoolsGold().kappa, FoolsGold().epsilon) == (1.0, 1e-5)
    with pytest.raises(ConfigError, match="kappa"):
        FoolsGold(kappa=0)
    with pytest.raises(ConfigError, match="epsilon"):
        FoolsGold(epsilon=-1e-5)


def test_on_the_meta_device_it_runs_without_a_host_sync():
    updates, weights = torch.empty(6, 40, device=META), torch.empty(6, device=META)
    rule = FoolsGold()
    with DeviceGuard() as guard:
        first = rule(updates, weights, server=ServerContext(seed=0, round_index=1, agent_ids=tuple(range(6))))
        later = ServerContext(seed=0, round_index=2, agent_ids=(4, 5, 6, 7, 8, 9), state=first.state)
        result = rule(updates, weights, server=later)
    assert guard.violations == [] and guard.allowed == {}
    assert result.step.shape == (40,) and len(result.state.histories) == 10
    assert result.state.summary()["agents_with_history"] == 10.0
