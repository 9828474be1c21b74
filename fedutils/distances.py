"""Distances between updates: the one geometry that the server's checks and the robust aggregators share."""

from __future__ import annotations

import torch

ROW_BY_ROW_DEVICES = ("mps",)
"""Devices whose exact ``cdist`` may hold all n × n × d differences at once (model A: 1.4 GB for ten updates):
there the distances are taken one row of differences at a time."""


def rows_except(count: int, index: int, device: torch.device) -> torch.Tensor:
    """The rows ``0 … count − 1`` but ``index``, ascending, on ``device``: indices rather than a boolean mask,
    so selecting with them needs no host sync (the same rows in the same order)."""
    rows = torch.arange(count, device=device)
    return torch.cat([rows[:index], rows[index + 1 :]])


EXACT_ROWS = 32
"""Up to this many updates the distances are summed from the differences themselves (n² · d subtractions: 0.07 s
for ten of model A's); beyond it, from their Gram matrix (``_gram_distances``), since n² · d grows past what a
round can afford (1.6 s for a hundred ``fast`` updates, 25 s for a hundred of model A's on two cores)."""
GRAM_COLUMNS = 1 << 18
"""Columns per block of the Gram matrix: each block is copied to float64 (100 rows: 200 MB)."""


def pairwise_distances(updates: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The ``(n, n)`` matrix of L2 distances ‖δ_i − δ_j‖ between stacked updates (over ``mask`` if given)."""
    if mask is not None:
        updates = updates[:, mask.to(updates.device)]
    if len(updates) > EXACT_ROWS:
        return _gram_distances(updates)
    if updates.device.type in ROW_BY_ROW_DEVICES:
        return torch.stack([(updates - row).norm(dim=1) for row in updates])
    # The matrix-multiplication shortcut loses digits when updates are close; distances are compared, so be exact.
    return torch.cdist(updates.unsqueeze(0), updates.unsqueeze(0), compute_mode="donot_use_mm_for_euclid_dist")[0]


def _gram_distances(updates: torch.Tensor) -> torch.Tensor:
    """Distances from the Gram matrix G of the centred updates, ‖δ_i − δ_j‖² = G_ii + G_jj − 2 G_ij, accumulated in
    float64 over blocks of columns (one matrix product each).

    Centring (distances do not change under a common shift) removes the updates' shared part, and float64 keeps
    the cancellation's error near 1e-16 of the spread's squared length: distances agree with the exact ones to
    about 1e-12 relatively, more closely than float32 differences summed in float32 do.
    """
    count = len(updates)
    gram = torch.zeros(count, count, dtype=torch.float64, device=updates.device)
    for block in updates.split(GRAM_COLUMNS, dim=1):
        block = block.to(torch.float64)
        block = block - block.mean(dim=0)
        gram += block @ block.T
    squares = gram.diagonal()
    distances = (squares.unsqueeze(1) + squares.unsqueeze(0) - 2 * gram).clamp_min(0)
    distances.fill_diagonal_(0)
    return distances.sqrt().to(updates.dtype)
