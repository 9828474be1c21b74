"""Adaptive robust clipping, ARC (Allouah, Guerraoui, Gupta, Jellouli, Rizk & Stephan, "The Vital Role of
Gradient Clipping in Byzantine-Resilient Distributed Learning", arXiv 2405.14432, 2024): clip the k
largest updates to the size of the next one.

With k = ⌊2 (f/n) (n − f)⌋ and the norms sorted ‖δ‖_(1) ≥ … ≥ ‖δ‖_(n),
the threshold is the (k + 1)-th largest norm C = ‖δ‖_(k+1), and

    y_i = δ_i · min(1, C / ‖δ_i‖₂).

Only the k largest can exceed C, so only they change; rows tied with C pass
unchanged, which makes the result independent of how ties are ranked. k = 0
(f = 0, or f = n) leaves every row as it is. The threshold adapts to the
round: no fixed clipping norm to tune, unlike :class:`~fedutils.aggregators.clipping.NormClip`.

Reference: ByzFL's ``ARC(f)`` (the authors' library; ``byzfl/aggregators/preaggregators.py``),
which this follows (the (k + 1)-th largest norm as threshold, strict ``>`` for clipping,
weights not used, so they pass through unchanged), with one deliberate difference:
ByzFL computes k as ``int((2 * f / n) * (n - f))`` in floating point, which for some
(n, f) falls one short of the paper's ⌊2f(n − f)/n⌋ (first at n = 121, f = 66: 59
instead of 60; 76 pairs with n ≤ 2000, none with n ≤ 120); here k is the exact integer.

Default f = 1, as for the other rules that assume f (ByzFL's default f = 0 is a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import (
    PreAggregation,
    PreAggregator,
    ServerContext,
    check_stack,
    require_byzantine_margin,
)
from fedutils.aggregators.krum import F_FLAG
from fedutils.options import require_non_negative_int


def clipped_count(n: int, f: int) -> int:
    """k = ⌊2 (f/n) (n − f)⌋, the number of updates ARC clips, in exact integer arithmetic."""
    return 2 * f * (n - f) // n


def adaptive_robust_clipping(updates: torch.Tensor, weights: torch.Tensor, f: int) -> PreAggregation:
    """Every row scaled by min(1, C / ‖δ_i‖), C the (k + 1)-th largest norm, k = ⌊2 (f/n) (n − f)⌋.

    Args:
        updates: shape ``(n, n_params)`` with n ≥ f.
        weights: α, shape ``(n,)``, passed on as they are.
        f: the number of Byzantine agents assumed.

    Returns:
        the clipped rows, ``weights``, and ``clipped``: per row, whether it was scaled down (‖δ_i‖ > C).
    """
    check_stack(updates, weights)
    n = len(updates)
    require_byzantine_margin(n, f, max(f, 1), "adaptive robust clipping", "n ≥ f")
    norms = updates.norm(dim=1)
    threshold = norms.sort(descending=True).values[clipped_count(n, f)]
    scale = (threshold / norms.clamp_min(torch.finfo(updates.dtype).tiny)).clamp(max=1.0)
    return PreAggregation(updates * scale.unsqueeze(1), weights, clipped=norms > threshold)


@dataclass(frozen=True)
class AdaptiveRobustClipping(PreAggregator):
    """Adaptive robust clipping (:func:`adaptive_robust_clipping`) in front of any rule; needs n ≥ f.

    Attributes:
        f: the number of Byzantine agents assumed (sets k, the updates clipped).
    """

    name: ClassVar[str] = "arc"
    summary: ClassVar[str] = "the ⌊2f(n − f)/n⌋ largest updates clipped to the next one's norm (Allouah et al. 2024)"

    f: int = field(default=1, metadata=F_FLAG)

    def validate(self) -> None:
        require_non_negative_int(self.f, "f (Byzantine agents the rule assumes)")

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> PreAggregation:
        return adaptive_robust_clipping(updates, weights, self.f)
