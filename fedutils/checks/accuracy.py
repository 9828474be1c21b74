"""Accuracy checking (Bhagoji et al. 2019, §3.3; SPEC §6.1).

The server applies each update on its own to the current global model and
measures the result on validation data it holds back. With
w_i = w_G^{t−1} + δ_i and w_{G∖i} = w_G^{t−1} + A({α_j, δ_j}_{j≠i}), the
model the server's rule A would build from every other update, the update is
flagged when

    acc(w_{G∖i}) − acc(w_i) > γ,

that is, when applying δ_i alone does markedly worse than leaving it out.
The paper quotes γ = 10 percentage points. The authors' code logged the
accuracy of w_G^{t−1} + δ_m but never compared or filtered (SPEC §6.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from fedutils.checks.base import CheckOptions, RoundUpdates, ServerResources, Verdict
from fedutils.options import cli_flag, require_fraction

DEFAULT_GAMMA = 0.10
"""γ as a fraction: 10 accuracy points, the threshold the paper quotes (SPEC §9.3).

In attack-free runs (``fast`` preset, seeds 0–1, six rounds, 120 honest
updates) the largest gap was 3.8 points, so the paper's γ raises no false
alarm there.
"""


@dataclass(frozen=True)
class AccuracyCheck(CheckOptions):
    """Flag an update whose model w_G^{t−1} + δ_i is more than γ less accurate than the others' aggregate.

    Verdicts carry the gap ``others_accuracy − accuracy`` as the statistic and
    both accuracies (fractions, on the server's held-out data) as measurements.

    Attributes:
        gamma: γ, the largest accuracy gap (a fraction: 0.10 = 10 points) an update may show.
    """

    name = "accuracy"
    summary = (
        "flag δ_i when w_G + δ_i is more than γ less accurate on the server's held-out data than the aggregate "
        "of the other updates"
    )

    gamma: float = field(
        default=DEFAULT_GAMMA,
        metadata=cli_flag("--gamma", "the largest allowed accuracy gap, a fraction (0.1 = 10 points)", metavar="γ"),
    )

    def validate(self) -> None:
        require_fraction(self.gamma, "gamma (γ, the accuracy check's threshold)")

    @property
    def threshold(self) -> float:
        return self.gamma

    def inspect(self, round_updates: RoundUpdates, server: ServerResources) -> list[Verdict]:
        base, updates, weights = round_updates.global_params, round_updates.updates, round_updates.weights
        count = len(updates)
        others = [round_updates.others(i) for i in range(count)]
        context = round_updates.context
        leave_one_out = torch.stack(
            [server.aggregate(updates[rows], weights[rows], server=context.rows(rows)).step for rows in others]
        )
        accuracies = server.held_out_accuracies(torch.cat([base + updates, base + leave_one_out]))
        verdicts = []
        for own, without in zip(accuracies[:count], accuracies[count:], strict=True):
            gap = without - own
            verdicts.append(Verdict(gap > self.gamma, gap, {"accuracy": own, "others_accuracy": without}))
        return verdicts
