"""Weight-update statistics: pairwise L2 distance ranges (Bhagoji et al. 2019, §3.3; SPEC §6.2).

In a round, the server compares how far an update lies from the others,
R_i = [min_{j≠i} ‖δ_i − δ_j‖, max_{j≠i} ‖δ_i − δ_j‖], with how far the others
lie from each other, [R^l, R^u] (all pairs j, j′ ≠ i). For the attacker, the
others are the benign agents and [R^l, R^u] is the benign band of the
authors' ``l2dist_calc.py``. The update is flagged when its range sticks out
of the band by more than κ, measured relative to the band's upper end:

    excess_i = max(R_i^u − R^u, R^l − R_i^l, 0) / R^u > κ.

Relative, so that one κ serves every round, model and preset (update
distances shrink as training converges and differ by an order of magnitude
between networks). The paper's own criterion (SPEC §6.2, unconfirmed) uses an
absolute κ_t per round.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from fedutils.checks.base import CheckOptions, RoundUpdates, ServerResources, Verdict
from fedutils.distances import pairwise_distances, rows_except
from fedutils.errors import ConfigError
from fedutils.options import cli_flag, require_non_negative

DEFAULT_KAPPA = 0.10
"""κ: an update's range may reach 10 % of the band's top beyond the band.

Chosen from attack-free runs (chapter 3, "Choosing the thresholds"): on the
``fast`` preset, seeds 0–1, six rounds (120 honest updates), the largest
relative excess was 0.017; κ = 0.10 leaves a margin of about six times that,
for other seeds and networks.
"""


@dataclass(frozen=True)
class DistanceRanges:
    """Pairwise L2 distance ranges of one round's updates (the authors' ``l2dist_calc.py``).

    Attributes:
        band_min, band_max: R^l and R^u, over all pairs of the other updates
            (the benign ones, when the update inspected is the attacker's).
        update_min, update_max: R_i^l and R_i^u, from the inspected update to each of the others.
    """

    band_min: float
    band_max: float
    update_min: float
    update_max: float

    @property
    def relative_excess(self) -> float:
        """How far the update's range sticks out of the band, as a fraction of R^u (0 inside it).

        When the others are identical (R^u = 0), any distance at all is an infinite excess.
        """
        beyond = max(self.update_max - self.band_max, self.band_min - self.update_min, 0.0)
        if self.band_max == 0:
            return 0.0 if beyond == 0 else math.inf
        return beyond / self.band_max


def distance_ranges(benign: torch.Tensor, malicious: torch.Tensor, mask: torch.Tensor | None = None) -> DistanceRanges:
    """The benign band and the malicious update's range of one round (the attacker's row of the distance check).

    Args:
        benign: the benign updates, shape ``(n ≥ 2, parameters)``.
        malicious: the malicious update, shape ``(parameters,)``.
        mask: compare only these parameters (the authors used kernels only:
            :func:`fedutils.models.weight_mask`); ``None`` compares all.
    """
    if benign.dim() != 2 or len(benign) < 2:
        raise ValueError(f"benign must stack at least two updates as (n, parameters), got shape {tuple(benign.shape)}")
    stack = torch.cat([benign, malicious.unsqueeze(0)])
    return leave_one_out_ranges(pairwise_distances(stack, mask), len(benign))


def leave_one_out_ranges(distances: torch.Tensor, index: int) -> DistanceRanges:
    """Update ``index``'s range of distances to the others, and the others' pairwise band, from a distance matrix."""
    n = len(distances)
    if n < 3:
        raise ValueError(f"a distance band needs at least two other updates, got {n - 1}")
    others = rows_except(n, index, distances.device)
    among = distances[others][:, others]
    upper = torch.triu_indices(n - 1, n - 1, offset=1, device=distances.device)
    band = among[upper[0], upper[1]]
    own = distances[index, others]
    return DistanceRanges(*torch.stack([band.min(), band.max(), own.min(), own.max()]).tolist())  # one read


@dataclass(frozen=True)
class DistanceCheck(CheckOptions):
    """Flag an update whose distances to the others leave the others' own distance band by more than κ.

    Verdicts carry the relative excess as the statistic and, as measurements,
    the fields of :class:`DistanceRanges`.

    Attributes:
        kappa: κ, the largest relative excess allowed (see :data:`DEFAULT_KAPPA`).
        weights_only: compare weights (kernels) only, as the authors' analysis
            did; ``False`` compares all parameters, biases included.
    """

    name = "distance"
    summary = "flag δ_i when its L2 distances to the others leave their pairwise band by more than κ"

    kappa: float = field(
        default=DEFAULT_KAPPA,
        metadata=cli_flag(
            "--kappa", "the largest allowed excess beyond the others' band, relative to the band's top", metavar="κ"
        ),
    )
    weights_only: bool = field(
        default=True,
        metadata=cli_flag(
            "--distance-parameters",
            "compare weights only, as the authors did, or all parameters",
            words={"weights": True, "all": False},
        ),
    )

    def validate(self) -> None:
        require_non_negative(self.kappa, "kappa (κ, the distance check's threshold)")
        if not isinstance(self.weights_only, bool):
            raise ConfigError(f"weights_only must be true or false, got {self.weights_only!r}.")

    @property
    def threshold(self) -> float:
        return self.kappa

    def inspect(self, round_updates: RoundUpdates, server: ServerResources) -> list[Verdict]:
        mask = server.weight_mask if self.weights_only else None
        distances = pairwise_distances(round_updates.updates, mask)
        verdicts = []
        for i in range(len(distances)):
            ranges = leave_one_out_ranges(distances, i)
            excess = ranges.relative_excess
            verdicts.append(Verdict(excess > self.kappa, excess, dataclasses.asdict(ranges)))
        return verdicts
