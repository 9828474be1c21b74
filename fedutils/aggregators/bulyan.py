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

import torch

from fedutils.aggregators.base import Aggregation, require_byzantine_margin, row_shares
from fedutils.aggregators.krum import multi_krum


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
