"""Bulyan (El Mhamdi et al. 2018): Krum to select, then a trimmed mean around the median of the selection.

1. Selection: the θ = n − 2f updates with the lowest Krum scores.
2. Aggregation: per coordinate, average the β = θ − 2f selected values
   closest to the coordinate's median among the selected.

The guarantee assumes n ≥ 4f + 3. The paper selects by applying Krum again
to the updates not yet chosen; with n = 4f + 3 its last steps would run
Krum on fewer than 2f + 3 updates, outside Krum's own assumption, so here
the scores are computed once, on all n updates (Multi-Krum's selection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, ServerContext, require_byzantine_margin, row_shares
from fedutils.aggregators.krum import KrumDistance, KrumScored, multi_krum


def bulyan(updates: torch.Tensor, weights: torch.Tensor, f: int, *, mask: torch.Tensor | None = None) -> Aggregation:
    """Bulyan over Krum with squared distances (over ``mask`` only, if given); weights are not used.

    ``selected`` marks the θ updates Krum kept; ``coordinate_share`` is, per
    row, the fraction of the averaged values (β per coordinate) that are its own.
    """
    n = len(updates)
    require_byzantine_margin(n, f, 4 * f + 3, "Bulyan", "n ≥ 4f + 3")
    selected = multi_krum(updates, weights, f, selected=n - 2 * f, mask=mask).selected
    chosen = selected.nonzero().squeeze(1)
    selection = updates[chosen]
    beta = len(chosen) - 2 * f
    median = selection.median(dim=0).values
    closest = (selection - median).abs().topk(beta, dim=0, largest=False).indices
    step = selection.gather(0, closest).mean(dim=0)
    return Aggregation(step, selected, row_shares(chosen[closest], n, updates.dtype))


@dataclass(frozen=True)
class Bulyan(KrumScored):
    """Bulyan (:func:`bulyan`) over Krum's selection; assumes n ≥ 4f + 3. With the authors' distance, Krum's
    scores are measured over the weights only (always squared here, as before)."""

    name: ClassVar[str] = "bulyan"
    summary: ClassVar[str] = "Krum's selection, then a trimmed mean around its median (El Mhamdi et al. 2018)"

    def minimum_updates(self) -> int:
        return 4 * self.f + 3

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        mask = server.weight_mask if self.distance is KrumDistance.AUTHORS else None
        return bulyan(updates, weights, self.f, mask=mask)
