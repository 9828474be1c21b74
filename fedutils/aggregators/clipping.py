"""Norm clipping (Sun et al. 2019): scale every update down to an L2 norm of at most M.

A boosted update's only lever is its size; clipping takes that lever away
while leaving honest updates (smaller than M) untouched. :class:`NormClip`
is a pre-aggregator, so it runs in front of any rule (clip, then Krum or the
median, as the literature composes them); in front of FedAvg it is Sun et
al.'s defense, :func:`norm_clipping`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, PreAggregation, PreAggregator, ServerContext, all_rows, check_stack
from fedutils.options import cli_flag, require_positive


def clip_rows(updates: torch.Tensor, max_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row scaled by min(1, M / ‖δ_i‖), and per row whether it was scaled down."""
    norms = updates.norm(dim=1)
    scale = (max_norm / norms.clamp_min(torch.finfo(updates.dtype).tiny)).clamp(max=1.0)
    return updates * scale.unsqueeze(1), norms > max_norm


def norm_clipping(updates: torch.Tensor, weights: torch.Tensor, clip_norm: float) -> Aggregation:
    """FedAvg of the clipped updates δ_i · min(1, M / ‖δ_i‖): the step Σ_i α_i clip(δ_i), at FedAvg's scale."""
    check_stack(updates, weights)
    require_positive(clip_norm, "clip_norm (M)")
    clipped, scaled_down = clip_rows(updates, clip_norm)
    return Aggregation(weights.to(updates.dtype) @ clipped, all_rows(updates), clipped=scaled_down)


@dataclass(frozen=True)
class NormClip(PreAggregator):
    """Norm clipping as a pre-aggregator: every row scaled down to an L2 norm of at most ``max_norm``.

    Attributes:
        max_norm: M, the largest update norm passed on.
    """

    name: ClassVar[str] = "norm_clip"
    summary: ClassVar[str] = "every update scaled down to an L2 norm of at most M (Sun et al. 2019)"

    max_norm: float = field(metadata=cli_flag("--clip-norm", "the largest update norm passed on", metavar="M"))

    def validate(self) -> None:
        require_positive(self.max_norm, "clip_norm (M)")

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> PreAggregation:
        check_stack(updates, weights)
        clipped, scaled_down = clip_rows(updates, self.max_norm)
        return PreAggregation(clipped, weights, clipped=scaled_down)
