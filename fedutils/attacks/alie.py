"""A Little Is Enough (Baruch, Baruch & Goldberg, NeurIPS 2019): every attacker sends μ + z·σ.

The attackers estimate the coordinate-wise mean μ and standard deviation σ of the honest updates and all f of
them send the same vector, each coordinate a few standard deviations (z) from the mean: inside the honest spread,
so coordinate-wise and distance-based rules keep it, yet far enough, all pulling the same way, to steer them.

z is free (the authors' ``main.py``: ``--num_std 1.5``; ByzFL ``ALittleIsEnough(tau=1.5)``), or the largest z for
which the attackers' copies, with s honest updates that happen to lie beyond them, still form a majority:

    s = ⌊n/2 + 1⌋ − f,    z_max = Φ^{-1}((n − f − s) / (n − f))     (:func:`alie_z_max`)

(the formula of epfml ``codes/attacks/alittle.py``, Blades and FLPoison; the paper's statement is unverified).
For one attacker among ten it is negative (−0.140): the formula gives no useful z there.

Differences between implementations, chosen here by option (:func:`alie`):

* sign: μ + zσ is ByzFL's, FLPoison's, Blades' and Shejwalkar's ``lie_attack``; the authors' ``DriftAttack`` and
  epfml send μ − zσ (``sign=-1``). The default is +1, ByzFL's.
* σ: ByzFL's (and Blades') ``ddof = 1``, the default here; the authors and FLPoison use ``ddof = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import ClassVar

import torch

from fedutils.attacks.tailored import TailoredAttack
from fedutils.errors import ConfigError
from fedutils.options import cli_flag, require_non_negative_int, require_positive_int


def alie_z_max(n: int, f: int) -> float:
    """z_max = Φ^{-1}((n − f − s) / (n − f)) with s = ⌊n/2 + 1⌋ − f, for n agents of which f attack (2f < n).

    Raises:
        ConfigError: n or f is not a positive integer, or f ≥ n/2.
    """
    require_positive_int(n, "n (the number of agents)")
    require_positive_int(f, "f (the number of attackers)")
    if 2 * f >= n:
        raise ConfigError(f"f (the number of attackers) must be below n/2 for ALIE's z_max, got f = {f} with n = {n}.")
    s = n // 2 + 1 - f
    return NormalDist().inv_cdf((n - f - s) / (n - f))


def alie(honest: torch.Tensor, z: float, *, sign: int = 1, ddof: int = 1) -> torch.Tensor:
    """The ALIE vector μ + sign·z·σ of the ``(h, d)`` honest updates the attackers see, shape ``(d,)``.

    Args:
        honest: the honest updates, one a row (at least ``ddof + 1`` of them).
        z: how many standard deviations from the mean (1.5 the authors' default; :func:`alie_z_max`).
        sign: +1 (ByzFL, FLPoison, Blades) or −1 (the authors, epfml).
        ddof: σ's delta degrees of freedom: 1 (ByzFL, Blades) or 0 (the authors, FLPoison).

    Raises:
        ConfigError: z is not a finite number, sign is not ±1, or ddof is not an integer ≥ 0.
        ValueError: ``honest`` is not ``(h, d)`` with h > ddof.
    """
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z):
        raise ConfigError(f"z (ALIE's number of standard deviations) must be a finite number, got {z!r}.")
    if isinstance(sign, bool) or sign not in (1, -1):
        raise ConfigError(f"sign (ALIE's direction from the mean) must be +1 or -1, got {sign!r}.")
    require_non_negative_int(ddof, "ddof (ALIE's delta degrees of freedom)")
    if honest.ndim != 2 or len(honest) <= ddof:
        raise ValueError(
            f"ALIE with ddof = {ddof} needs (h, d) honest updates with h > {ddof}, got {tuple(honest.shape)}"
        )
    return honest.mean(dim=0) + (sign * z) * honest.std(dim=0, correction=ddof)


@dataclass(frozen=True)
class ALIE(TailoredAttack):
    """Options of ALIE: f colluding attackers send :func:`alie` of the updates they see (:class:`TailoredAttack`).

    Attributes:
        z: standard deviations from the mean; ``None``: :func:`alie_z_max` for the round's n and f (negative, so
            pointless, for one attacker among ten — use f ≥ 2 of 10 or a fixed z).
        sign: +1 (ByzFL's μ + zσ) or −1 (the authors' μ − zσ).
        ddof: σ's delta degrees of freedom, 1 (ByzFL) or 0 (the authors).
    """

    name: ClassVar[str] = "alie"
    summary: ClassVar[str] = "f colluders send μ + zσ of the honest updates (A Little Is Enough, Baruch et al. 2019)"
    needs_spread: ClassVar[bool] = True

    z: float | None = field(
        default=1.5,
        metadata=cli_flag("--z", "ALIE's standard deviations from the mean (the authors: 1.5)", metavar="Z"),
    )
    sign: int = 1
    ddof: int = 1

    def validate(self) -> None:
        super().validate()
        if self.z is not None and (isinstance(self.z, bool) or not math.isfinite(float(self.z))):
            raise ConfigError(f"z (ALIE's number of standard deviations) must be a finite number, got {self.z!r}.")
        if isinstance(self.sign, bool) or self.sign not in (1, -1):
            raise ConfigError(f"sign (ALIE's direction from the mean) must be +1 or -1, got {self.sign!r}.")
        require_non_negative_int(self.ddof, "ddof (ALIE's delta degrees of freedom)")

    def craft(self, seen: torch.Tensor, n: int, f: int) -> torch.Tensor:
        z = alie_z_max(n, f) if self.z is None else float(self.z)
        return alie(seen, z, sign=self.sign, ddof=self.ddof)
