"""The server's view of a model: evaluating flat parameter vectors.

The server holds the validation data and the target set, and evaluates any
candidate model w (the global model, or w_G^{t−1} + δ_i for one agent's
update) by loading w into a workspace network.
"""

from __future__ import annotations

import torch
from torch import nn

from fedutils.data.dataset import LabelledData
from fedutils.data.targets import TargetSet
from fedutils.models import load_flat_parameters
from fedutils.training import Evaluation, TargetOutcome, evaluate, evaluate_targets


class Evaluator:
    """Evaluates flat parameter vectors on fixed validation data and targets.

    Args:
        model: a workspace network of the right architecture (its weights are overwritten).
        validation: the validation split (the test set, as in the paper).
        targets: the adversarial target set.
    """

    def __init__(self, model: nn.Module, validation: LabelledData, targets: TargetSet) -> None:
        self.model = model
        self.validation = validation
        self.targets = targets

    def evaluate(self, params: torch.Tensor) -> tuple[Evaluation, list[TargetOutcome]]:
        """Validation accuracy and loss, and the outcome on every target, of the model ``params``."""
        load_flat_parameters(self.model, params)
        return evaluate(self.model, self.validation), evaluate_targets(self.model, self.targets)

    def accuracy(self, params: torch.Tensor) -> float:
        """Validation accuracy (a fraction) of the model ``params``, without the targets."""
        load_flat_parameters(self.model, params)
        return evaluate(self.model, self.validation).accuracy
