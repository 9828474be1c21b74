"""Min-Max and Min-Sum (Shejwalkar & Houmansadr, NDSS 2021): the mean pushed back as far as the honest spread allows.

All f attackers send δ_m = μ − γ p, with μ the mean of the h honest updates x_i they see and p a perturbation
(:class:`Perturbation`): ``unit_vec`` μ/‖μ‖ (the default), ``sign`` sign(μ), or ``std`` the coordinate-wise standard
deviation σ (``ddof = 1``, the reference's ``torch.std``). γ is the largest for which δ_m looks no more out of place
than an honest update:

* Min-Max (:func:`min_max`): max_i ‖δ_m − x_i‖² ≤ max_{i,j} ‖x_i − x_j‖²;
* Min-Sum (:func:`min_sum`): Σ_i ‖δ_m − x_i‖² ≤ min_i Σ_j ‖x_i − x_j‖².

γ is found by the reference's search (``vrt1shjwlkr/NDSS21-Model-Poisoning``, notebooks
``cifar10/release-fedsgd-alexnet-*.ipynb``, ``our_attack_dist`` and ``our_attack_score``), :func:`search_gamma`:
γ = γ_init, step = γ_init, γ_succ = 0; while ``|γ_succ − γ|`` > tolerance: if feasible {γ_succ = γ; γ += step/2}
else {γ −= step/2}; step /= 2. It returns γ_succ, so the result is always feasible (γ = 0 is: μ lies inside the
honest spread under both bounds). Defaults γ_init = 10, tolerance = 1e-5 are the reference's (and FLPoison's).

Both feasibility sets are intervals [0, γ*] (the Min-Max distance is a convex function of γ, the Min-Sum one
grows with γ²), so the search is a bisection on [0, 2 γ_init]: it ends with γ_succ + 2·tolerance infeasible
unless γ* lies within 2·tolerance of the search's ceiling or beyond it: it never returns γ ≥ 2 γ_init.
Min-Sum's γ* has a closed form, min_k ‖x_k − μ‖ / ‖p‖ (Σ_i ‖μ − γp − x_i‖² = Σ_i ‖x_i − μ‖² + h γ² ‖p‖²): its
update lies no farther from μ than the honest update nearest μ. Neither γ bounds the other in general; what holds
is that Min-Sum's cap on the summed squared distances, min_i Σ_j ‖x_i − x_j‖² ≤ (h − 1)·max, is below the h·max
that Min-Max's cap implies.

Where it differs on purpose:

* Min-Sum's bound is the reference's *minimum* over honest updates; FLPoison's ``attackers/min.py`` takes the
  maximum (a looser bound, a stronger attack that is no longer the paper's).
* The search also stops when its step has halved to zero (the reference would loop for ever if γ_init were so
  large against the tolerance that γ stopped changing).
* γ is a Python float (the reference's is a float32 CUDA tensor).

Each search step reads one boolean on the host (:func:`search_gamma`, about 20 steps for the defaults); on the
``meta`` device, which holds no values, every γ counts as infeasible, so γ = 0 and the result is μ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.attacks.tailored import TailoredAttack
from fedutils.distances import pairwise_distances
from fedutils.errors import ConfigError
from fedutils.options import Choice, cli_flag, require_positive


class Perturbation(Choice):
    """The direction p the mean is pushed against: μ/‖μ‖ (the reference's default), sign(μ), or σ."""

    UNIT_VEC = "unit_vec"
    SIGN = "sign"
    STD = "std"


@dataclass(frozen=True)
class PerturbedMean:
    """What Min-Max and Min-Sum send: ``update`` = μ − ``gamma`` · p, shape ``(d,)``, and the γ found."""

    update: torch.Tensor
    gamma: float


def perturbation_vector(honest: torch.Tensor, perturbation: Perturbation | str) -> torch.Tensor:
    """p for the ``(h, d)`` honest updates: μ/‖μ‖ (0 when μ = 0), sign(μ), or the coordinate std (ddof 1)."""
    kind = _perturbation(perturbation)
    mean = honest.mean(dim=0)
    if kind is Perturbation.UNIT_VEC:
        return mean / mean.norm().clamp_min(torch.finfo(mean.dtype).tiny)
    if kind is Perturbation.SIGN:
        return torch.sign(mean)
    return honest.std(dim=0)


def min_max_bound(honest: torch.Tensor) -> torch.Tensor:
    """max_{i,j} ‖x_i − x_j‖², the largest squared distance between two honest updates (a 0-dim tensor)."""
    return pairwise_distances(honest).square().max()


def min_sum_bound(honest: torch.Tensor) -> torch.Tensor:
    """min_i Σ_j ‖x_i − x_j‖², the least summed squared distance of an honest update to the others (0-dim)."""
    return pairwise_distances(honest).square().sum(dim=1).min()


def search_gamma(fits: Callable[[float], torch.Tensor], gamma_init: float, tolerance: float) -> float:
    """The reference's search for the largest γ with ``fits(γ)`` true (a 0-dim boolean tensor), from ``gamma_init``.

    Reads ``fits(γ)`` on the host once a step; on ``meta`` it counts as false.
    """
    gamma, step, succeeded = gamma_init, gamma_init, 0.0
    while abs(succeeded - gamma) > tolerance and step > 0:
        fit = fits(gamma)
        if fit.device.type != "meta" and bool(fit):  # meta has no values: every γ counts as infeasible
            succeeded, gamma = gamma, gamma + step / 2
        else:
            gamma -= step / 2
        step /= 2
    return succeeded


def min_max(
    honest: torch.Tensor,
    perturbation: Perturbation | str = Perturbation.UNIT_VEC,
    *,
    gamma_init: float = 10.0,
    tolerance: float = 1e-5,
) -> PerturbedMean:
    """Min-Max: μ − γ p with the largest γ found such that max_i ‖δ_m − x_i‖² ≤ max_{i,j} ‖x_i − x_j‖².

    Args:
        honest: the ``(h, d)`` honest updates the attackers see (h ≥ 2 for ``std``).
        perturbation: p (:class:`Perturbation`).
        gamma_init: the search's first γ (and first step); it never goes beyond 2·gamma_init.
        tolerance: the search stops once γ moves by no more than this.

    Raises:
        ConfigError: a bad perturbation, gamma_init or tolerance.
        ValueError: ``honest`` is not ``(h, d)`` with enough rows.
    """
    bound = min_max_bound(_checked(honest, perturbation, gamma_init, tolerance, "Min-Max"))
    return _search(honest, perturbation, gamma_init, tolerance, lambda distances: distances.max() <= bound)


def min_sum(
    honest: torch.Tensor,
    perturbation: Perturbation | str = Perturbation.UNIT_VEC,
    *,
    gamma_init: float = 10.0,
    tolerance: float = 1e-5,
) -> PerturbedMean:
    """Min-Sum: μ − γ p with the largest γ found such that Σ_i ‖δ_m − x_i‖² ≤ min_i Σ_j ‖x_i − x_j‖².

    Arguments and errors as :func:`min_max`.
    """
    bound = min_sum_bound(_checked(honest, perturbation, gamma_init, tolerance, "Min-Sum"))
    return _search(honest, perturbation, gamma_init, tolerance, lambda distances: distances.sum() <= bound)


def _checked(honest: torch.Tensor, perturbation: Perturbation | str, gamma_init: float, tolerance: float, who: str):
    require_positive(gamma_init, f"gamma_init ({who}'s first γ)")
    require_positive(tolerance, f"tolerance ({who}'s search)")
    needed = 2 if _perturbation(perturbation) is Perturbation.STD else 1
    if honest.ndim != 2 or len(honest) < needed:
        raise ValueError(f"{who} needs (h, d) honest updates with h ≥ {needed}, got {tuple(honest.shape)}")
    return honest


def _search(
    honest: torch.Tensor,
    perturbation: Perturbation | str,
    gamma_init: float,
    tolerance: float,
    within: Callable[[torch.Tensor], torch.Tensor],
) -> PerturbedMean:
    """μ − γ p at the γ :func:`search_gamma` finds, ``within`` judging the ``(h,)`` squared distances ‖δ_m − x_i‖²."""
    mean, p = honest.mean(dim=0), perturbation_vector(honest, perturbation)
    gamma = search_gamma(lambda g: within((honest - (mean - g * p)).norm(dim=1).square()), gamma_init, tolerance)
    return PerturbedMean(mean - gamma * p, gamma)


def _perturbation(value: Perturbation | str) -> Perturbation:
    try:
        return Perturbation(value)
    except ValueError:
        allowed = ", ".join(m.value for m in Perturbation)
        raise ConfigError(f"perturbation must be one of {allowed}; got {value!r}.") from None


@dataclass(frozen=True)
class MinMax(TailoredAttack):
    """Options of Min-Max: f colluding attackers send :func:`min_max` of the updates they see.

    Attributes:
        perturbation: p, the direction pushed against (unit_vec, the reference's default; sign; std).
        gamma_init: the search's first γ.
        tolerance: the search's stopping step.
    """

    name: ClassVar[str] = "min_max"
    summary: ClassVar[str] = (
        "f colluders send μ − γp, γ as large as the honest updates' largest distance allows "
        "(Shejwalkar & Houmansadr 2021)"
    )
    needs_spread: ClassVar[bool] = True

    perturbation: Perturbation = field(
        default=Perturbation.UNIT_VEC,
        metadata=cli_flag("--perturbation", "the direction p of Min-Max's and Min-Sum's μ − γp"),
    )
    gamma_init: float = 10.0
    tolerance: float = 1e-5

    def validate(self) -> None:
        super().validate()
        require_positive(self.gamma_init, "gamma_init (the search's first γ)")
        require_positive(self.tolerance, "tolerance (the search's stopping step)")

    def craft(self, seen: torch.Tensor, n: int, f: int) -> torch.Tensor:
        return min_max(seen, self.perturbation, gamma_init=self.gamma_init, tolerance=self.tolerance).update


@dataclass(frozen=True)
class MinSum(MinMax):
    """Options of Min-Sum: as :class:`MinMax`, with the summed-distance envelope (:func:`min_sum`)."""

    name: ClassVar[str] = "min_sum"
    summary: ClassVar[str] = (
        "f colluders send μ − γp, γ as large as the honest updates' least summed distance allows "
        "(Shejwalkar & Houmansadr 2021)"
    )

    def craft(self, seen: torch.Tensor, n: int, f: int) -> torch.Tensor:
        return min_sum(seen, self.perturbation, gamma_init=self.gamma_init, tolerance=self.tolerance).update
