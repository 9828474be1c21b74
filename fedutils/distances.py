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


def pairwise_distances(updates: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The ``(n, n)`` matrix of L2 distances ‖δ_i − δ_j‖ between stacked updates (over ``mask`` if given)."""
    if mask is not None:
        updates = updates[:, mask.to(updates.device)]
    if updates.device.type in ROW_BY_ROW_DEVICES:
        return torch.stack([(updates - row).norm(dim=1) for row in updates])
    # The matrix-multiplication shortcut loses digits when updates are close; distances are compared, so be exact.
    return torch.cdist(updates.unsqueeze(0), updates.unsqueeze(0), compute_mode="donot_use_mm_for_euclid_dist")[0]
