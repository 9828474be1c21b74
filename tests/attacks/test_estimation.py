"""Estimating the other agents' update from consecutive global models."""

from __future__ import annotations

import torch

from fedutils.attacks.estimation import OthersUpdateTracker


def test_previous_step_estimate_recovers_the_others_update():
    alpha = 0.1
    tracker = OthersUpdateTracker(alpha)
    w0 = torch.zeros(4)
    assert tracker.estimate(w0, 1) is None  # nothing seen yet
    own = torch.tensor([1.0, 0.0, 0.0, 0.0])
    tracker.remember(w0, 1, own)
    others = torch.tensor([0.0, 0.5, -0.5, 0.25])
    w1 = w0 + others + alpha * own  # the server's step in round 1
    assert torch.allclose(tracker.estimate(w1, 2), others)


def test_estimate_is_per_round_when_the_attacker_skipped_rounds():
    tracker = OthersUpdateTracker(0.01)
    own = torch.ones(2)
    tracker.remember(torch.zeros(2), 3, own)
    later = torch.full((2,), 0.01) + torch.tensor([0.3, 0.6])  # own share + three rounds of others
    assert torch.allclose(tracker.estimate(later, 6), torch.tensor([0.1, 0.2]))


def test_remembered_tensors_are_copies():
    tracker = OthersUpdateTracker(0.5)
    params, update = torch.zeros(2), torch.ones(2)
    tracker.remember(params, 1, update)
    params += 10
    update += 10
    assert torch.allclose(tracker.estimate(torch.zeros(2), 2), torch.full((2,), -0.5))
