"""Weight-update statistics: pairwise L2 distance ranges (SPEC §6.2)."""

from __future__ import annotations

import pytest
import torch

from fedutils.checks import distance_ranges


def test_ranges_on_a_hand_computed_example():
    benign = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # pairwise: 3, 4, 5
    malicious = torch.tensor([0.0, -1.0])  # to each benign: 1, √10, 5
    ranges = distance_ranges(benign, malicious)
    assert (ranges.benign_min, ranges.benign_max) == pytest.approx((3.0, 5.0))
    assert (ranges.malicious_min, ranges.malicious_max) == pytest.approx((1.0, 5.0))


def test_mask_restricts_the_comparison():
    benign = torch.tensor([[0.0, 0.0], [1.0, 100.0]])
    malicious = torch.tensor([2.0, -100.0])
    ranges = distance_ranges(benign, malicious, mask=torch.tensor([True, False]))
    assert (ranges.benign_min, ranges.malicious_min, ranges.malicious_max) == pytest.approx((1.0, 1.0, 2.0))


def test_a_boosted_update_lies_outside_the_benign_range():
    generator = torch.Generator().manual_seed(0)
    benign = 0.01 * torch.randn(9, 1000, generator=generator)
    ranges = distance_ranges(benign, 10 * benign[0])
    assert ranges.malicious_min > ranges.benign_max


def test_needs_two_benign_updates():
    with pytest.raises(ValueError, match="at least two"):
        distance_ranges(torch.zeros(1, 3), torch.zeros(3))
