"""Centered clipping (Karimireddy, He & Jaggi, "Learning from History for Byzantine Robust Optimization",
ICML 2021): move a centre towards the updates, each update's pull clipped to τ.

From the previous round's output v_0 = m (zero in the first round), each of
L iterations takes

    v_l = v_{l−1} + Σ_i ᾱ_i clip_τ(δ_i − v_{l−1}),   clip_τ(x) = x · min(1, τ / ‖x‖₂),

with ᾱ = α / Σ α, and the step is v_L, which is also the next round's centre.
An update, however far, moves the centre by at most ᾱ_i τ per iteration; updates
within τ of the centre pass as in the mean (with τ larger than every distance,
one iteration from m is the weighted mean).

Reference: ``epfml/byzantine-robust-optimizer`` ``codes/aggregator/clipping.py``
(``Clipping(tau, n_iter=1)``), whose mean is the plain 1/n one: with equal
weights ᾱ_i = 1/n and the two agree; with unequal weights this module weighs
each pull by the agent's α (on purpose, as FedAvg weighs its update). ByzFL's
``CenteredClipping(m=None, L=1, tau=100.0)`` is the same iteration with 1/n.

Defaults: τ = 100 and L = 1, the reference's experiments
(``momentum-robustness/cifar10-all.py``: ``Clipping(tau=100, n_iter=1)``) and
ByzFL's defaults. The paper's point is that clients send *momentum*
(β = 0.9); this rule is the server's half only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, Aggregator, RuleState, ServerContext, all_rows, check_stack
from fedutils.options import cli_flag, require_positive, require_positive_int


def centered_clipping(
    updates: torch.Tensor, weights: torch.Tensor, centre: torch.Tensor, *, tau: float, iterations: int
) -> torch.Tensor:
    """The centre after ``iterations`` steps v_l = v_{l−1} + Σ_i ᾱ_i clip_τ(δ_i − v_{l−1}) from v_0 = ``centre``.

    Args:
        updates: shape ``(n, n_params)``.
        weights: α, shape ``(n,)``; normalised to ᾱ = α / Σ α (equal weights: the reference's 1/n mean).
        centre: v_0, shape ``(n_params,)`` (the previous round's output; zeros in the first round).
        tau: τ, the largest pull one update exerts per iteration.
        iterations: L.
    """
    return _iterate(updates, weights, centre, tau, iterations)[0]


def _iterate(
    updates: torch.Tensor, weights: torch.Tensor, centre: torch.Tensor, tau: float, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """v_L and, per row, whether ‖δ_i − v_{L−1}‖ > τ (clipped in the last iteration)."""
    check_stack(updates, weights)
    require_positive(tau, "tau (the centered clipping radius τ)")
    require_positive_int(iterations, "iterations (centered clipping's L)")
    if centre.shape != updates.shape[1:]:
        raise ValueError(f"centre must have shape ({updates.shape[1]},), got {tuple(centre.shape)}")
    alpha = weights.to(updates.dtype) / weights.sum()
    v = centre.to(dtype=updates.dtype, device=updates.device)
    tiny = torch.finfo(updates.dtype).tiny
    for _ in range(iterations):
        differences = updates - v
        distances = differences.norm(dim=1)
        scale = (tau / distances.clamp_min(tiny)).clamp(max=1.0)
        v = v + (alpha * scale) @ differences
    return v, distances > tau


@dataclass(frozen=True)
class CentreState(RuleState):
    """Centered clipping's memory: the centre v the next round starts from (this round's output).

    Attributes:
        centre: shape ``(n_params,)``.
    """

    centre: torch.Tensor

    def summary(self) -> dict[str, float]:
        if self.centre.device.type == "meta":  # shapes without values: nothing to read
            return {"centre_norm": float("nan")}
        return {"centre_norm": float(self.centre.norm())}


@dataclass(frozen=True)
class CenteredClipping(Aggregator):
    """Centered clipping (:func:`centered_clipping`), carrying its centre from round to round
    (:class:`CentreState`; zeros in the first round).

    Attributes:
        tau: τ, the largest pull one update exerts per iteration (100, the reference's experiments and ByzFL).
        iterations: L, the clipping iterations per round (1, the same sources).
    """

    name: ClassVar[str] = "centered_clipping"
    summary: ClassVar[str] = (
        "a centre moved towards the updates, each pull clipped to τ, carried across rounds (Karimireddy et al. 2021)"
    )

    tau: float = field(
        default=100.0, metadata=cli_flag("--cc-tau", "τ, the largest pull of one update on the centre", metavar="τ")
    )
    iterations: int = field(
        default=1, metadata=cli_flag("--cc-iterations", "L, centered clipping iterations per round", metavar="L")
    )

    def validate(self) -> None:
        require_positive(self.tau, "tau (the centered clipping radius τ)")
        require_positive_int(self.iterations, "iterations (centered clipping's L)")

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        check_stack(updates, weights)
        previous = None if server is None else server.state
        if previous is None:
            centre = torch.zeros_like(updates[0])
        elif isinstance(previous, CentreState):
            centre = previous.centre
        else:
            raise ValueError(f"centered clipping carries a CentreState, got {type(previous).__name__}.")
        step, clipped = _iterate(updates, weights, centre, self.tau, self.iterations)
        return Aggregation(step, all_rows(updates), clipped=clipped, state=CentreState(step))
