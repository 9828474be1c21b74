"""The distances every rule and check shares: exact differences for a round's few updates, the Gram matrix for
many, the two agreeing."""

from __future__ import annotations

import pytest
import torch

from fedutils.distances import EXACT_ROWS, pairwise_distances


def _exact(updates: torch.Tensor) -> torch.Tensor:
    """‖δ_i − δ_j‖ from the differences, in float64."""
    rows = updates.double()
    return torch.stack([(rows - row).norm(dim=1) for row in rows])


@pytest.mark.parametrize("count", [EXACT_ROWS, EXACT_ROWS + 1, 100])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_many_updates_get_the_distances_of_their_differences(count, dtype):
    """Close updates far from the origin (a shared part 300× their spread): the case that loses digits in a plain
    Gram matrix, kept by centring and float64; a repeated row (colluders' copies) is at distance 0."""
    generator = torch.Generator().manual_seed(count)
    updates = (3.0 + 0.01 * torch.randn(count, 3000, generator=generator, dtype=torch.float64)).to(dtype)
    updates[5] = updates[2]
    distances = pairwise_distances(updates)
    exact = _exact(updates)
    off = ~torch.eye(count, dtype=torch.bool)
    tolerance = 1e-12 if dtype is torch.float64 else 2e-5  # float32: the exact path sums its squares in float32
    relative = (distances.double() - exact).abs()[off] / exact[off].clamp_min(1e-30)
    assert distances.dtype is dtype and float(relative[exact[off] > 0].max()) < tolerance
    assert distances[2, 5] == 0 and torch.all(distances.diagonal() == 0)
    assert torch.equal(distances, distances.T)


def test_a_round_s_few_updates_keep_the_exact_differences_bit_for_bit():
    """Up to EXACT_ROWS rows nothing changed: the paper's and the book's rounds keep their numbers."""
    generator = torch.Generator().manual_seed(0)
    updates = torch.randn(10, 500, generator=generator)
    expected = torch.cdist(updates[None], updates[None], compute_mode="donot_use_mm_for_euclid_dist")[0]
    assert torch.equal(pairwise_distances(updates), expected)
