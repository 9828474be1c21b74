"""Krum and Multi-Krum (Blanchard et al. 2017): keep the update(s) closest to their neighbours.

Each update δ_i gets the score s_i = Σ_{j ∈ N_i} d(δ_i, δ_j)², N_i its
n − f − 2 nearest other updates. Krum returns the update with the lowest
score; Multi-Krum averages the m lowest. The guarantee assumes n > 2f + 2.
The authors' variant (SPEC §7) uses non-squared distances over the weights
(kernels) only, with f = 1.
"""

from __future__ import annotations

import torch

from fedutils.aggregators.base import Aggregation, check_stack, require_byzantine_margin
from fedutils.distances import pairwise_distances
from fedutils.errors import ConfigError


def krum_scores(
    updates: torch.Tensor, f: int, *, squared: bool = True, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Each update's Krum score: the sum of its (squared) distances to its n − f − 2 nearest neighbours.

    Args:
        updates: shape ``(n, n_params)`` with n ≥ 2f + 3.
        f: the number of Byzantine agents assumed.
        squared: square the distances (Blanchard et al.); ``False`` is the authors' variant.
        mask: measure distances over these parameters only (the authors: weights only).
    """
    n = len(updates)
    require_byzantine_margin(n, f, 2 * f + 3, "Krum", "n > 2f + 2")
    distances = pairwise_distances(updates, mask)
    return scores_from_distances(distances.square() if squared else distances, n - f - 2)


def scores_from_distances(distances: torch.Tensor, neighbours: int) -> torch.Tensor:
    """Per row of an ``(n, n)`` distance matrix, the sum of its ``neighbours`` smallest entries off the diagonal."""
    n = len(distances)
    others = distances + torch.diag(torch.full((n,), float("inf"), device=distances.device))  # never itself
    return others.topk(neighbours, dim=1, largest=False).values.sum(dim=1)


def krum(
    updates: torch.Tensor,
    weights: torch.Tensor,
    f: int,
    *,
    squared: bool = True,
    mask: torch.Tensor | None = None,
) -> Aggregation:
    """Krum: the single update with the lowest score (weights are not used)."""
    return multi_krum(updates, weights, f, selected=1, squared=squared, mask=mask)


def multi_krum(
    updates: torch.Tensor,
    weights: torch.Tensor,
    f: int,
    *,
    selected: int | None = None,
    squared: bool = True,
    mask: torch.Tensor | None = None,
) -> Aggregation:
    """Multi-Krum: the mean of the ``selected`` updates with the lowest scores (default n − f).

    Ties are broken by the lower index, so the result is deterministic.
    """
    check_stack(updates, weights)
    n = len(updates)
    count = n - f if selected is None else selected
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= n:
        raise ConfigError(f"Multi-Krum must select between 1 and n = {n} updates, got {count!r}.")
    scores = krum_scores(updates, f, squared=squared, mask=mask)
    order = torch.argsort(scores, stable=True)
    chosen = torch.zeros(n, dtype=torch.bool, device=updates.device)
    chosen[order[:count]] = True
    return Aggregation(updates[chosen].mean(dim=0), chosen)
