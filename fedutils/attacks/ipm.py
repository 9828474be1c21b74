"""Inner Product Manipulation (Xie, Koyejo & Gupta, UAI 2019): every attacker sends −ε·μ.

With μ the mean of the honest updates the attackers see, all f of them send −ε μ, so that the aggregate's inner
product with the true descent direction turns negative: against the mean when f·ε > h (h honest updates), since
the mean of the round is (h − f ε) μ / n. A small ε (0.1) sits near the honest cluster, where distance-based rules
such as Krum keep it; a large one (≥ 1) overwhelms the mean and, with enough attackers, the median.

ε has no single default: epfml's ``momentum-robustness/cifar10-all.py`` uses 0.1 (11 attackers of 25), FLPoison
0.1, Blades 1.0, ByzFL ``InnerProductManipulation(tau=2.0)``; ε = 1 with f copies is sign flipping of the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.attacks.tailored import TailoredAttack
from fedutils.options import cli_flag, require_positive


def ipm(honest: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The IPM vector −ε μ of the ``(h, d)`` honest updates the attackers see, shape ``(d,)``.

    Raises:
        ConfigError: epsilon is not a positive number.
        ValueError: ``honest`` is not ``(h, d)`` with h ≥ 1.
    """
    require_positive(epsilon, "epsilon (IPM's ε)")
    if honest.ndim != 2 or len(honest) < 1:
        raise ValueError(f"IPM needs (h, d) honest updates with h ≥ 1, got {tuple(honest.shape)}")
    return -epsilon * honest.mean(dim=0)


@dataclass(frozen=True)
class IPM(TailoredAttack):
    """Options of IPM: f colluding attackers send :func:`ipm` of the updates they see (:class:`TailoredAttack`).

    Attributes:
        epsilon: ε (0.1, epfml's and FLPoison's: small enough for Krum to pick it; ≥ 1 breaks the mean).
    """

    name: ClassVar[str] = "ipm"
    summary: ClassVar[str] = "f colluders send −ε μ of the honest updates (Inner Product Manipulation, Xie et al. 2020)"

    epsilon: float = field(default=0.1, metadata=cli_flag("--ipm-epsilon", "IPM's ε in −ε μ", metavar="ε"))

    def validate(self) -> None:
        super().validate()
        require_positive(self.epsilon, "epsilon (IPM's ε)")

    def craft(self, seen: torch.Tensor, n: int, f: int) -> torch.Tensor:
        return ipm(seen, self.epsilon)
