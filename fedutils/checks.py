"""What a careful server can measure on the updates it receives (Bhagoji et al. 2019, §3.3; SPEC §6).

Weight-update statistics (SPEC §6.2): in a round, the spread of pairwise L2
distances among the benign updates, [R^l, R^u], against the distances
between the malicious update and each benign one, [R_m^l, R_m^u]. A
malicious update whose range lies far outside the benign one stands out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistanceRanges:
    """Pairwise L2 distance ranges of one round's updates (the authors' ``l2dist_calc.py``).

    Attributes:
        benign_min, benign_max: R^l and R^u, over all pairs of benign updates.
        malicious_min, malicious_max: R_m^l and R_m^u, from the malicious update to each benign one.
    """

    benign_min: float
    benign_max: float
    malicious_min: float
    malicious_max: float


def distance_ranges(benign: torch.Tensor, malicious: torch.Tensor, mask: torch.Tensor | None = None) -> DistanceRanges:
    """The benign and malicious L2 distance ranges of one round.

    Args:
        benign: the benign updates, shape ``(n ≥ 2, parameters)``.
        malicious: the malicious update, shape ``(parameters,)``.
        mask: compare only these parameters (the authors used kernels only:
            :func:`fedutils.models.weight_mask`); ``None`` compares all.
    """
    if benign.dim() != 2 or len(benign) < 2:
        raise ValueError(f"benign must stack at least two updates as (n, parameters), got shape {tuple(benign.shape)}")
    if mask is not None:
        benign, malicious = benign[:, mask], malicious[mask]
    pairs = torch.pdist(benign)
    to_malicious = (benign - malicious).norm(dim=1)
    return DistanceRanges(
        benign_min=pairs.min().item(),
        benign_max=pairs.max().item(),
        malicious_min=to_malicious.min().item(),
        malicious_max=to_malicious.max().item(),
    )
