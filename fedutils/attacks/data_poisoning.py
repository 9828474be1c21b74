"""The data-poisoning baseline (Bhagoji et al. 2019; SPEC §5.5).

The attacker adds ``copies`` copies of each target example, labelled with its
target class, to its own data and then trains exactly like a benign agent:
no boosting, no special objective. The paper reports that this fails where
model poisoning succeeds; the book checks that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from fedutils.attacks.base import AttackParams, MaliciousAgent
from fedutils.data.dataset import LabelledData
from fedutils.data.targets import TargetSet
from fedutils.options import cli_flag, require_positive, require_positive_int
from fedutils.seeding import Stream, derive_seed


@dataclass(frozen=True)
class DataPoisoning(AttackParams):
    """Options of the data-poisoning baseline.

    Attributes:
        copies: copies of each target added to the attacker's data (the authors' code: 10).
        epochs: local epochs; ``None`` means the federation's E, like a benign agent.
    """

    name: ClassVar[str] = "data_poisoning"
    summary: ClassVar[str] = "honest training on its data plus relabelled copies of the targets (the paper's baseline)"

    copies: int = 10
    epochs: float | None = field(
        default=None, metadata=cli_flag("--mal-epochs", "local epochs; unset: the federation's E", metavar="N")
    )

    def validate(self) -> None:
        super().validate()
        require_positive_int(self.copies, "copies")
        if self.epochs is not None:
            require_positive(self.epochs, "epochs (malicious epochs)")


def with_target_copies(data: LabelledData, targets: TargetSet, copies: int, seed: int) -> LabelledData:
    """``data`` plus ``copies`` copies of every target labelled with its target class, shuffled once."""
    repeats = (copies,) + (1,) * (targets.x.ndim - 1)
    x = torch.cat([data.x, targets.x.repeat(repeats)])
    y = torch.cat([data.y, targets.target_classes.repeat(copies)])
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(derive_seed(seed, Stream.POISONING)))
    return LabelledData(x[order.to(x.device)], y[order.to(y.device)])


class DataPoisoningAgent(MaliciousAgent):
    """The attacker of :class:`DataPoisoning`: trains normally on its data plus labelled copies of the targets."""

    params: DataPoisoning

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poisoned_data = with_target_copies(self.data, self.targets, self.params.copies, self.seed)

    def craft(self, global_params, estimate, others, generator) -> torch.Tensor:
        start, base = self.start_and_base(global_params, estimate)
        trained = self.training.train_from(self.model, start, self.poisoned_data, generator, self.params.epochs)
        return trained - base


DataPoisoning.agent_class = DataPoisoningAgent
