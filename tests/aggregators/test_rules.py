"""Aggregation rules on tiny tensors: no model, no data."""

from __future__ import annotations

import pytest
import torch

from fedutils.aggregators import (
    bulyan,
    coordinate_median,
    fedavg,
    krum,
    krum_scores,
    multi_krum,
    norm_clipping,
    trimmed_mean,
)
from fedutils.errors import ConfigError


def test_fedavg_of_identical_updates_is_that_update():
    delta = torch.tensor([1.0, -2.0, 3.0])
    updates = delta.repeat(4, 1)
    assert torch.allclose(fedavg(updates, torch.full((4,), 0.25)).step, delta)


def test_fedavg_is_the_weighted_sum():
    updates = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    weights = torch.tensor([0.1, 0.1, 0.1])  # alpha_i = 1/k with k = 10 and only 3 agents selected
    aggregation = fedavg(updates, weights)
    assert torch.allclose(aggregation.step, torch.tensor([0.5, 0.6]))
    assert aggregation.selected.all()


def test_fedavg_checks_shapes():
    with pytest.raises(ValueError, match="n_agents, n_params"):
        fedavg(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="weights must have shape"):
        fedavg(torch.zeros(3, 2), torch.zeros(2))


def _cluster(n: int = 7, size: int = 5, seed: int = 0) -> torch.Tensor:
    """n honest updates around (1, …, 1)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.ones(size) + 0.1 * torch.randn(n, size, generator=generator)


def _weights(n: int) -> torch.Tensor:
    return torch.full((n,), 1 / n)


def test_krum_scores_on_a_hand_computed_example():
    updates = torch.tensor([[0.0], [1.0], [3.0], [10.0], [11.0]])  # n = 5, f = 1: 2 nearest neighbours
    # squared distances to the 2 nearest: 0 → 1 + 9; 1 → 1 + 4; 3 → 4 + 9; 10 → 1 + 49; 11 → 1 + 64
    assert krum_scores(updates, 1).tolist() == [10.0, 5.0, 13.0, 50.0, 65.0]
    assert krum_scores(updates, 1, squared=False).tolist() == [4.0, 3.0, 5.0, 8.0, 9.0]  # the authors' variant


def test_krum_picks_the_update_nearest_the_cluster_and_ignores_a_far_outlier():
    centre = torch.ones(3)
    cluster = torch.cat([centre + 0.1 * torch.eye(3), centre - 0.1 * torch.eye(3)])  # six points around the centre
    updates = torch.cat([cluster, centre.unsqueeze(0), 100 * torch.ones(1, 3)])  # n = 8 > 2f + 2 with f = 1
    result = krum(updates, _weights(8), f=1)
    assert result.selected.tolist() == [False] * 6 + [True, False]
    assert torch.equal(result.step, centre)
    assert int(krum_scores(updates, 1).argmin()) == 6
    moved = updates.clone()
    moved[7] = -1e6  # wherever the outlier goes, Krum's pick does not change
    assert torch.equal(krum(moved, _weights(8), f=1).step, centre)


def test_multi_krum_averages_the_best_and_leaves_out_the_outlier():
    updates = torch.cat([_cluster(), 100 * torch.ones(1, 5)])
    result = multi_krum(updates, _weights(8), f=1)  # selects n − f = 7
    assert result.selected.tolist() == [True] * 7 + [False]
    assert torch.allclose(result.step, updates[:7].mean(0))
    with pytest.raises(ConfigError, match="between 1 and n = 8"):
        multi_krum(updates, _weights(8), f=1, selected=0)


def test_krum_needs_more_than_2f_plus_2_updates():
    with pytest.raises(ConfigError, match="Krum with f = 2 needs n > 2f \\+ 2, that is at least 7 updates; got 6"):
        krum(_cluster(6), _weights(6), f=2)
    with pytest.raises(ConfigError, match="must be an integer ≥ 0"):
        krum(_cluster(6), _weights(6), f=-1)


@pytest.mark.parametrize("rule", [coordinate_median, lambda u, w: trimmed_mean(u, w, trim=2)])
def test_coordinate_rules_are_unmoved_by_how_far_f_outliers_go(rule):
    honest = _cluster(7)
    attacked = torch.cat([honest, 1e3 * torch.ones(2, 5)])  # f = 2 outliers on one side
    farther = torch.cat([honest, 1e9 * torch.ones(2, 5)])
    step = rule(attacked, _weights(9)).step
    assert torch.equal(step, rule(farther, _weights(9)).step)
    assert (step >= honest.min(0).values).all() and (step <= honest.max(0).values).all()


def test_median_and_its_coordinate_shares():
    updates = torch.tensor([[0.0, 5.0], [1.0, 1.0], [2.0, 0.0]])
    result = coordinate_median(updates, _weights(3))
    assert result.step.tolist() == [1.0, 1.0]
    assert result.coordinate_share.tolist() == [0.0, 1.0, 0.0]  # row 1 holds the median of both coordinates
    even = coordinate_median(updates[:2], _weights(2))  # the mean of the two middle values
    assert even.step.tolist() == [0.5, 3.0] and even.coordinate_share.tolist() == [0.5, 0.5]


def test_trimmed_mean_drops_the_extremes():
    updates = torch.tensor([[0.0], [1.0], [2.0], [3.0], [100.0]])
    result = trimmed_mean(updates, _weights(5), trim=1)
    assert result.step.tolist() == [2.0]
    assert result.coordinate_share.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3, 0])
    assert torch.equal(trimmed_mean(updates, _weights(5), trim=0).step, updates.mean(0))
    with pytest.raises(ConfigError, match="trim"):
        trimmed_mean(updates, _weights(5), trim=3)


def test_bulyan_enforces_its_precondition_and_ignores_outliers():
    with pytest.raises(ConfigError, match="Bulyan with f = 2 needs n ≥ 4f \\+ 3, that is at least 11 updates; got 10"):
        bulyan(_cluster(10), _weights(10), f=2)
    honest = _cluster(9)
    updates = torch.cat([honest, 50 * torch.ones(2, 5)])  # n = 11 = 4f + 3 with f = 2
    result = bulyan(updates, _weights(11), f=2)
    assert result.selected.sum() == 11 - 2 * 2 and not result.selected[9:].any()
    assert (result.step >= honest.min(0).values).all() and (result.step <= honest.max(0).values).all()
    assert result.coordinate_share[9:].sum() == 0 and result.coordinate_share.sum() == pytest.approx(1.0)


def test_norm_clipping_shortens_only_the_long_updates():
    updates = torch.tensor([[3.0, 4.0], [0.3, 0.4], [30.0, 40.0]])  # norms 5, 0.5, 50
    result = norm_clipping(updates, torch.full((3,), 0.1), clip_norm=1.0)
    assert result.clipped.tolist() == [True, False, True]
    clipped = torch.tensor([[0.6, 0.8], [0.3, 0.4], [0.6, 0.8]])
    assert torch.allclose(result.step, 0.1 * clipped.sum(0))
    with pytest.raises(ConfigError, match="clip_norm"):
        norm_clipping(updates, torch.full((3,), 0.1), clip_norm=0)


@pytest.mark.parametrize("n", [33, 40, 101])
@pytest.mark.parametrize("ties", [False, True])
def test_many_updates_select_the_coordinate_rules_order_statistics_instead_of_sorting(n, ties):
    """Beyond SORTED_ROWS updates the median and the trimmed mean select rather than sort: the same step as the
    sorted values give, ties included (integer-valued updates tie everywhere), and shares that sum to one."""
    generator = torch.Generator().manual_seed(n)
    updates = torch.randn(n, 400, generator=generator, dtype=torch.float64)
    if ties:
        updates = updates.mul(1.5).round()
        updates[:, :50] = 0.0  # a coordinate every update leaves alone
    weights = torch.full((n,), 1 / n, dtype=torch.float64)
    ordered = updates.sort(dim=0).values
    median = coordinate_median(updates, weights)
    assert torch.allclose(median.step, ordered[(n - 1) // 2 : n // 2 + 1].mean(dim=0), rtol=0, atol=1e-12)
    assert float(median.coordinate_share.sum()) == pytest.approx(1.0)
    for trim in (1, 5, n // 3):
        trimmed = trimmed_mean(updates, weights, trim)
        assert torch.allclose(trimmed.step, ordered[trim : n - trim].mean(dim=0), rtol=0, atol=1e-12)
        assert float(trimmed.coordinate_share.sum()) == pytest.approx(1.0)
