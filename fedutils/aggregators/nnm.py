"""Nearest-neighbour mixing (Allouah, Farhadkhani, Guerraoui, Gupta, Pinot & Stephan, "Fixing by Mixing: A
Recipe for Optimal Byzantine ML under Heterogeneity", AISTATS 2023): replace each update by the mean of
its n − f nearest updates, then run any rule.

    y_i = (1 / (n − f)) Σ_{j ∈ N_i} δ_j,   N_i = the n − f rows nearest δ_i in L2, δ_i itself included.

Each mixed row averages at least n − 2f honest updates, so the honest rows come
closer together and a rule behind the mixing (trimmed mean, Krum, the geometric
median, …) meets a smaller spread; the paper shows this makes such rules reach the
optimal error under heterogeneity.

Reference: ByzFL's ``NNM(f)`` (the authors' library; ``byzfl/aggregators/preaggregators.py``),
which this follows: the plain 1/(n − f) mean of the neighbours, and the weights
pass through unchanged (row i keeps α_i). Distances are the exact L2 distances
(:func:`~fedutils.distances.pairwise_distances`; ByzFL: SciPy's ``cdist``).
Ties at the (n − f)-th distance go to the lower row index here; ByzFL takes
NumPy's ``argpartition``, whose choice among equal distances is unspecified.
Identical rows (an attacker's copies) tie without consequence: either choice gives
the same mean.

Default f = 1, as for the other rules that assume f (ByzFL's default f = 0 mixes
every row into the one overall mean).
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
from fedutils.distances import pairwise_distances
from fedutils.options import require_non_negative_int


def nearest_neighbour_mixing(updates: torch.Tensor, weights: torch.Tensor, f: int) -> PreAggregation:
    """Each row replaced by the plain mean of its n − f nearest rows (itself included); weights unchanged.

    Args:
        updates: shape ``(n, n_params)`` with n > f.
        weights: α, shape ``(n,)``, passed on as they are.
        f: the number of Byzantine agents assumed.

    Returns:
        the mixed rows, ``weights``, and ``sources``: per row, its neighbour set N_i.
    """
    check_stack(updates, weights)
    n = len(updates)
    require_byzantine_margin(n, f, f + 1, "nearest-neighbour mixing", "n > f")
    kept = n - f
    order = pairwise_distances(updates).argsort(dim=1, stable=True)  # equal distances: the lower index first
    sources = torch.zeros(n, n, dtype=torch.bool, device=updates.device)
    sources.scatter_(1, order[:, :kept], True)
    mixed = (sources.to(updates.dtype) @ updates) / kept
    return PreAggregation(mixed, weights, sources=sources)


@dataclass(frozen=True)
class NearestNeighbourMixing(PreAggregator):
    """Nearest-neighbour mixing (:func:`nearest_neighbour_mixing`) in front of any rule; needs n > f.

    Attributes:
        f: the number of Byzantine agents assumed (each row mixes its n − f nearest).
    """

    name: ClassVar[str] = "nnm"
    summary: ClassVar[str] = "each update replaced by the mean of its n − f nearest (Allouah et al. 2023)"

    f: int = field(default=1, metadata=F_FLAG)

    def validate(self) -> None:
        require_non_negative_int(self.f, "f (Byzantine agents the rule assumes)")

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> PreAggregation:
        return nearest_neighbour_mixing(updates, weights, self.f)
