"""Krum and Multi-Krum (Blanchard et al. 2017): keep the update(s) closest to their neighbours.

Each update δ_i gets the score s_i = Σ_{j ∈ N_i} d(δ_i, δ_j)², N_i its
n − f − 2 nearest other updates. Krum returns the update with the lowest
score; Multi-Krum averages the m lowest. The guarantee assumes n > 2f + 2.
The authors' variant (SPEC §7) uses non-squared distances over the weights
(kernels) only, with f = 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, Aggregator, ServerContext, check_stack, require_byzantine_margin
from fedutils.distances import pairwise_distances
from fedutils.errors import ConfigError
from fedutils.options import Choice, cli_flag, require_non_negative_int


class KrumDistance(Choice):
    """Krum's distances: squared over all parameters (Blanchard et al.), or the authors' plain L2 over weights."""

    SQUARED = "squared"
    AUTHORS = "authors"


F_FLAG = cli_flag("--f", "the number of Byzantine agents the rule assumes")
DISTANCE_FLAG = cli_flag(
    "--krum-distance", "squared L2 over all parameters (Blanchard et al.) or the authors' plain L2 over weights"
)


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
    rows = order[:count].sort().values  # in index order, as a boolean mask would take them, without a host sync
    chosen = torch.zeros(n, dtype=torch.bool, device=updates.device)
    chosen[rows] = True
    return Aggregation(updates.index_select(0, rows).mean(dim=0), chosen)


def krum_options(distance: KrumDistance, server: ServerContext) -> dict:
    """Krum's distance options for :func:`krum_scores`: squared or not, and the mask of the authors' variant."""
    authors = distance is KrumDistance.AUTHORS
    return {"squared": not authors, "mask": server.weight_mask if authors else None}


@dataclass(frozen=True)
class KrumScored(Aggregator):
    """What the rules that rank updates by Krum's score share (Krum, Multi-Krum, Bulyan): f and the distance.

    Attributes:
        f: the number of Byzantine agents assumed.
        distance: squared L2 over all parameters (Blanchard et al.), or the authors' plain L2 over the weights.
    """

    legacy_wire: ClassVar[bool] = True
    wire_names: ClassVar[dict[str, str]] = {"distance": "krum_distance"}

    f: int = field(default=1, metadata=F_FLAG)
    distance: KrumDistance = field(default=KrumDistance.SQUARED, metadata=DISTANCE_FLAG)

    def validate(self) -> None:
        require_non_negative_int(self.f, "f (Byzantine agents the rule assumes)")


@dataclass(frozen=True)
class Krum(KrumScored):
    """Krum (:func:`krum`): the update closest to its n − f − 2 nearest neighbours; assumes n ≥ 2f + 3."""

    name: ClassVar[str] = "krum"
    summary: ClassVar[str] = "the update closest to its n − f − 2 nearest neighbours (Blanchard et al. 2017)"

    def minimum_updates(self) -> int:
        return 2 * self.f + 3

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        return krum(updates, weights, self.f, **krum_options(self.distance, server))


@dataclass(frozen=True)
class MultiKrum(KrumScored):
    """Multi-Krum (:func:`multi_krum`): the mean of the ``selected`` updates with the lowest Krum scores; assumes
    n ≥ 2f + 3.

    Attributes:
        selected: how many updates are averaged; ``None`` means n − f.
    """

    name: ClassVar[str] = "multi_krum"
    summary: ClassVar[str] = "the mean of the updates with the lowest Krum scores (Blanchard et al. 2017)"
    wire_names: ClassVar[dict[str, str]] = {"selected": "krum_selected", "distance": "krum_distance"}

    selected: int | None = field(
        default=None, metadata=cli_flag("--krum-selected", "updates averaged (default n − f)", metavar="M")
    )

    def validate(self) -> None:
        super().validate()
        if self.selected is not None and (
            isinstance(self.selected, bool) or not isinstance(self.selected, int) or self.selected < 1
        ):
            raise ConfigError(
                f"krum_selected (updates Multi-Krum averages) must be an integer ≥ 1, got {self.selected!r}."
            )

    def minimum_updates(self) -> int:
        return max(2 * self.f + 3, self.selected or 1)

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        return multi_krum(updates, weights, self.f, selected=self.selected, **krum_options(self.distance, server))
