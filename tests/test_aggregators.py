"""Aggregation rules on tiny tensors: no model, no data."""

from __future__ import annotations

import pytest
import torch

from fedutils.aggregators import fedavg


def test_fedavg_of_identical_updates_is_that_update():
    delta = torch.tensor([1.0, -2.0, 3.0])
    updates = delta.repeat(4, 1)
    assert torch.allclose(fedavg(updates, torch.full((4,), 0.25)), delta)


def test_fedavg_is_the_weighted_sum():
    updates = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    weights = torch.tensor([0.1, 0.1, 0.1])  # alpha_i = 1/k with k = 10 and only 3 agents selected
    assert torch.allclose(fedavg(updates, weights), torch.tensor([0.5, 0.6]))


def test_fedavg_checks_shapes():
    with pytest.raises(ValueError, match="n_agents, n_params"):
        fedavg(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="weights must have shape"):
        fedavg(torch.zeros(3, 2), torch.zeros(2))
