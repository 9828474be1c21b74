"""Divide-and-Conquer, DnC (Shejwalkar & Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning
Attacks and Defenses for Federated Learning", NDSS 2021, Algorithm 2): drop the updates that stick out
most along the principal direction of a random subset of coordinates.

Each of ``iterations`` rounds of filtering:

1. draw b coordinates r without replacement (all of them when d ≤ b);
2. centre the sub-matrix: c_i = δ_i[r] − μ, μ = the mean of the δ_i[r];
3. v = the top right singular vector of the centred (n, b) matrix;
4. score s_i = ⟨c_i, v⟩², and keep the n − ⌊c·f⌋ rows with the lowest scores.

The good set is the intersection of the kept rows over the iterations, and the step is the
α-weighted mean of the good set — an estimate of one update. Poisoning updates that must
share a direction to do harm are the ones that stand out along v.

How it is computed: with C the centred sub-matrix and C = U Σ Vᵀ, ⟨c_i, v_1⟩ = σ_1 u_{i1},
so s_i = λ u_i² with (λ, u) the top eigenpair of the n × n matrix C Cᵀ — the same scores
as the SVD's, from an n × n symmetric eigenproblem (``torch.linalg.eigh``, deterministic),
and the sign of v (or u) does not matter since the scores are squared. Ties in the scores
keep the lower row. On a CUDA device ``torch.linalg.eigh`` (as ``torch.linalg.svd``) makes the
host wait once per iteration.

Sources: the algorithm is not in the authors' released code (``vrt1shjwlkr/NDSS21-Model-Poisoning``);
the peers are fedlib ``fedlib/aggregators/aggregators.py::DnC(num_byzantine, sub_dim=10000,
num_iters=5, filter_frac=1.0)`` — the defaults here: b = 10000, 5 iterations, c = 1.0 — and
FLPoison ``aggregators/dnc.py`` (5 iterations, c = 1.0, b a fraction 0.2 of d). Like fedlib, n −
int(c·f) rows are kept per iteration. When the intersection is empty the step is zero (fedlib's
code takes the mean of no rows there, which is NaN in torch). The coordinates come from the
run's seed and the round (:data:`COORDINATES`), not from torch's global generator as in fedlib;
f defaults to 1 as for the other rules (fedlib requires it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, Aggregator, ServerContext, ServerNeed, check_stack
from fedutils.errors import ConfigError
from fedutils.options import cli_flag, require_non_negative, require_non_negative_int, require_positive_int

COORDINATES = 13
"""The ``purpose`` number of DnC's coordinate draws among the server's draws of a round."""


def removed_per_iteration(n: int, f: int, filter_frac: float) -> int:
    """⌊c·f⌋, the rows each iteration drops; a one-sentence :class:`ConfigError` unless n > c·f."""
    require_non_negative_int(f, "f (Byzantine agents the rule assumes)")
    require_non_negative(filter_frac, "filter_frac (c, DnC's filtering fraction)")
    removed = int(filter_frac * f)
    if removed >= n:
        raise ConfigError(
            f"DnC with f = {f} and filter_frac c = {filter_frac} drops {removed} updates per iteration, "
            f"so it needs n > c·f, that is at least {removed + 1} updates; got {n}."
        )
    return removed


def dnc_scores(sub_updates: torch.Tensor) -> torch.Tensor:
    """s_i = ⟨c_i, v⟩² per row of ``sub_updates`` (shape ``(n, b)``): c_i the centred rows, v their top right
    singular vector."""
    centred = sub_updates - sub_updates.mean(dim=0)
    eigenvalues, eigenvectors = torch.linalg.eigh(centred @ centred.T)  # ascending
    return eigenvalues[-1].clamp_min(0.0) * eigenvectors[:, -1].square()


def dnc(
    updates: torch.Tensor,
    weights: torch.Tensor,
    f: int,
    coordinates: Sequence[torch.Tensor],
    *,
    filter_frac: float = 1.0,
) -> Aggregation:
    """DnC's step: the α-weighted mean of the rows kept in every iteration (zero when none is).

    Args:
        updates: shape ``(n, n_params)``.
        weights: α, shape ``(n,)``.
        f: the number of Byzantine agents assumed.
        coordinates: one index tensor per iteration, the coordinates it looks at (drawn without replacement).
        filter_frac: c; each iteration drops the ⌊c·f⌋ rows with the highest scores.

    Returns:
        The step, and ``selected``: the good set.
    """
    check_stack(updates, weights)
    n = len(updates)
    keep = n - removed_per_iteration(n, f, filter_frac)
    if not coordinates:
        raise ValueError("dnc needs at least one iteration's coordinates.")
    good = torch.ones(n, dtype=torch.bool, device=updates.device)
    for index in coordinates:
        scores = dnc_scores(updates.index_select(1, index.to(updates.device)))
        kept = torch.zeros_like(good)
        kept[torch.argsort(scores, stable=True)[:keep]] = True
        good &= kept
    share = weights.to(updates.dtype) * good
    step = (share @ updates) / share.sum().clamp_min(torch.finfo(updates.dtype).tiny)
    return Aggregation(step, good)


def draw_coordinates(d: int, sub_dim: int, iterations: int, generator: torch.Generator) -> list[torch.Tensor]:
    """``iterations`` sets of ``sub_dim`` coordinates of ``0 … d − 1``, each drawn without replacement from
    ``generator`` (a CPU generator) and sorted; every coordinate, undrawn, when d ≤ ``sub_dim``."""
    if d <= sub_dim:
        return [torch.arange(d)] * iterations
    return [torch.randperm(d, generator=generator)[:sub_dim].sort().values for _ in range(iterations)]


@dataclass(frozen=True)
class DnC(Aggregator):
    """Divide-and-Conquer (:func:`dnc`): the mean of the updates that never stand out along the principal
    direction of a random subset of coordinates.

    Attributes:
        f: the number of Byzantine agents assumed.
        sub_dim: b, the coordinates drawn per iteration (10000, fedlib's).
        iterations: the filtering iterations (5, fedlib's and FLPoison's).
        filter_frac: c, each iteration drops ⌊c·f⌋ updates (1.0, fedlib's and FLPoison's).
    """

    name: ClassVar[str] = "dnc"
    summary: ClassVar[str] = (
        "the mean of the updates that never stand out along the top singular direction of random coordinates "
        "(DnC, Shejwalkar & Houmansadr 2021)"
    )
    needs: ClassVar[frozenset[ServerNeed]] = frozenset({ServerNeed.RANDOMNESS})

    f: int = field(default=1, metadata=cli_flag("--f", "the number of Byzantine agents assumed (the default trim)"))
    sub_dim: int = field(
        default=10000, metadata=cli_flag("--dnc-dims", "b, the coordinates DnC draws per iteration", metavar="b")
    )
    iterations: int = field(default=5, metadata=cli_flag("--dnc-iterations", "DnC's filtering iterations"))
    filter_frac: float = field(
        default=1.0, metadata=cli_flag("--dnc-filter", "c, each DnC iteration drops c·f updates", metavar="c")
    )

    def validate(self) -> None:
        require_non_negative_int(self.f, "f (Byzantine agents the rule assumes)")
        require_positive_int(self.sub_dim, "sub_dim (b, the coordinates DnC draws)")
        require_positive_int(self.iterations, "iterations (DnC's filtering iterations)")
        require_non_negative(self.filter_frac, "filter_frac (c, DnC's filtering fraction)")

    def minimum_updates(self) -> int:
        return int(self.filter_frac * self.f) + 1

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        check_stack(updates, weights)
        removed_per_iteration(len(updates), self.f, self.filter_frac)  # before drawing
        generator = (server or ServerContext()).generator(COORDINATES, "cpu", self.name)
        coordinates = draw_coordinates(updates.shape[1], self.sub_dim, self.iterations, generator)
        return dnc(updates, weights, self.f, coordinates, filter_frac=self.filter_frac)
