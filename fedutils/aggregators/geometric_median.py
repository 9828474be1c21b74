"""The geometric median (RFA, Pillutla, Kakade & Harchaoui 2022): the point with the least summed distance.

z* = argmin_z Σ_i α_i ‖z − δ_i‖, found with the smoothed Weiszfeld iteration
of the reference implementation (``krishnap25/RFA``,
``models/model.py::geometric_median_update``): from the weighted mean,
repeat β_i = α_i / max(ν, ‖z − δ_i‖), z ← Σ_i β_i δ_i / Σ_i β_i, at most
``iterations`` times, stopping once the objective improves by less than
``tolerance`` (relative). Every update pulls with the same force whatever its
length, so a boosted outlier moves z no more than an honest update does
(breakdown point 1/2).

The defaults are the reference's (4 iterations, ν = 1e-5, tolerance 1e-6).
ByzFL's ``GeometricMedian(nu=0.1, T=3)`` differs on purpose: it starts from
z = 0 and runs exactly three iterations with ν = 0.1 — ``start="zero"``,
``iterations=3``, ``smoothing=0.1``, ``tolerance=0`` here — which stops far
from the converged median.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, Aggregator, ServerContext, all_rows, check_stack
from fedutils.options import Choice, cli_flag, require_non_negative, require_positive, require_positive_int


class WeiszfeldStart(Choice):
    """Where the Weiszfeld iteration starts: the weighted mean (the reference) or zero (ByzFL's)."""

    MEAN = "mean"
    ZERO = "zero"


def geometric_median(
    updates: torch.Tensor,
    weights: torch.Tensor,
    *,
    iterations: int = 4,
    smoothing: float = 1e-5,
    tolerance: float = 1e-6,
    start: WeiszfeldStart = WeiszfeldStart.MEAN,
) -> Aggregation:
    """The (smoothed) weighted geometric median of the rows of ``updates``, by Weiszfeld's iteration.

    Weights are normalised to sum to 1, so the result is an estimate of one update.
    """
    check_stack(updates, weights)
    alpha = weights.to(updates.dtype) / weights.sum()
    z = alpha @ updates if WeiszfeldStart(start) is WeiszfeldStart.MEAN else torch.zeros_like(updates[0])
    objective = (alpha * (updates - z).norm(dim=1)).sum()
    for _ in range(iterations):
        beta = alpha / (updates - z).norm(dim=1).clamp_min(smoothing)
        z = (beta / beta.sum()) @ updates
        previous, objective = objective, (alpha * (updates - z).norm(dim=1)).sum()
        if tolerance and torch.abs(previous - objective) <= tolerance * objective:
            break
    return Aggregation(z, all_rows(updates))


@dataclass(frozen=True)
class GeometricMedian(Aggregator):
    """The geometric median of the updates (:func:`geometric_median`), RFA's robust aggregate.

    Attributes:
        iterations: the most Weiszfeld steps.
        smoothing: ν, the smallest distance a step divides by (keeps a row at z from dominating).
        tolerance: stop once the objective improves by less than this, relatively; 0 runs every step.
        start: the weighted mean (the reference) or zero (ByzFL).
    """

    name: ClassVar[str] = "geometric_median"
    summary: ClassVar[str] = "the point with the least summed distance to the updates (RFA, Pillutla et al. 2022)"

    iterations: int = field(
        default=4, metadata=cli_flag("--weiszfeld-steps", "the most Weiszfeld iterations", metavar="T")
    )
    smoothing: float = field(
        default=1e-5, metadata=cli_flag("--weiszfeld-smoothing", "ν, the smallest distance divided by", metavar="ν")
    )
    tolerance: float = 1e-6
    start: WeiszfeldStart = WeiszfeldStart.MEAN

    def validate(self) -> None:
        require_positive_int(self.iterations, "iterations (Weiszfeld steps)")
        require_positive(self.smoothing, "smoothing (ν)")
        require_non_negative(self.tolerance, "tolerance")

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        return geometric_median(
            updates,
            weights,
            iterations=self.iterations,
            smoothing=self.smoothing,
            tolerance=self.tolerance,
            start=self.start,
        )
