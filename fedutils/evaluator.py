"""The server's view of a model: evaluating flat parameter vectors.

The server holds the validation data and the target set, and evaluates any
candidate model w (the global model, or w_G^{t−1} + δ_i for one agent's
update) by loading w into a workspace network — or, when many candidates
are evaluated at once (every agent's w_G + δ_i, the accuracy check's
leave-one-out models), by running them stacked as one model
(:class:`~fedutils.batched.StackedNetwork`).
"""

from __future__ import annotations

import torch
from torch import nn

from fedutils.batched import StackedNetwork
from fedutils.data.dataset import LabelledData
from fedutils.data.targets import TargetSet
from fedutils.models import load_flat_parameters
from fedutils.training import (
    Evaluation,
    TargetOutcome,
    evaluate,
    evaluate_targets,
    evaluation_from_logits,
    target_outcomes_from_logits,
)


class Evaluator:
    """Evaluates flat parameter vectors on fixed validation data and targets.

    Args:
        model: a workspace network of the right architecture (its weights are overwritten).
        validation: the validation split (the test set, as in the paper).
        targets: the adversarial target set.
        stacked: evaluate many candidates as one stacked model (one vmapped pass;
            what pays on a GPU) rather than one after another (the CPU default).
    """

    def __init__(
        self, model: nn.Module, validation: LabelledData, targets: TargetSet, *, stacked: bool = False
    ) -> None:
        self.model = model
        self.validation = validation
        self.targets = targets
        self.stacked = stacked
        self._network: StackedNetwork | None = None

    def evaluate(self, params: torch.Tensor) -> tuple[Evaluation, list[TargetOutcome]]:
        """Validation accuracy and loss, and the outcome on every target, of the model ``params``."""
        load_flat_parameters(self.model, params)
        return evaluate(self.model, self.validation), evaluate_targets(self.model, self.targets)

    def accuracy(self, params: torch.Tensor) -> float:
        """Validation accuracy (a fraction) of the model ``params``, without the targets."""
        load_flat_parameters(self.model, params)
        return evaluate(self.model, self.validation).accuracy

    def evaluate_many(self, params: torch.Tensor) -> list[tuple[Evaluation, list[TargetOutcome]]]:
        """:meth:`evaluate` for each row of ``params`` ``(n, P)``."""
        if not self.stacked:
            return [self.evaluate(row) for row in params]
        network = self._stacked_network()
        out = network.logits(params, self.validation.x)
        target_out = network.logits(params, self.targets.x)
        return [
            (evaluation_from_logits(rows, self.validation.y), target_outcomes_from_logits(target_rows, self.targets))
            for rows, target_rows in zip(out, target_out, strict=True)
        ]

    def accuracies(self, params: torch.Tensor) -> list[float]:
        """:meth:`accuracy` for each row of ``params`` ``(n, P)``."""
        if not self.stacked:
            return [self.accuracy(row) for row in params]
        out = self._stacked_network().logits(params, self.validation.x)
        return (out.argmax(2) == self.validation.y).float().mean(1).tolist()

    def _stacked_network(self) -> StackedNetwork:
        if self._network is None:
            self._network = StackedNetwork(self.model, tuple(self.validation.x.shape[1:]))
        return self._network
