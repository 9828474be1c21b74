"""Norm clipping (Sun et al. 2019): scale every update down to an L2 norm of at most M, then average.

A boosted update's only lever is its size; clipping takes that lever away
while leaving honest updates (smaller than M) untouched.
"""

from __future__ import annotations

import torch

from fedutils.aggregators.base import Aggregation, all_rows, check_stack
from fedutils.options import require_positive


def norm_clipping(updates: torch.Tensor, weights: torch.Tensor, clip_norm: float) -> Aggregation:
    """FedAvg of the clipped updates δ_i · min(1, M / ‖δ_i‖): the step Σ_i α_i clip(δ_i), at FedAvg's scale."""
    check_stack(updates, weights)
    require_positive(clip_norm, "clip_norm (M)")
    norms = updates.norm(dim=1)
    scale = (clip_norm / norms.clamp_min(torch.finfo(updates.dtype).tiny)).clamp(max=1.0)
    clipped = updates * scale.unsqueeze(1)
    return Aggregation(weights.to(updates.dtype) @ clipped, all_rows(updates), clipped=norms > clip_norm)
