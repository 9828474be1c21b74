"""The server's view of a model: evaluating flat parameter vectors.

The server holds the validation data and the target set, and evaluates any
candidate model w (the global model, or w_G^{t−1} + δ_i for one agent's
update) by loading w into a workspace network. When it evaluates many
candidates at once (every agent's w_G + δ_i, the accuracy check's
leave-one-out models) it can run them stacked as one model
(:class:`~fedutils.simulation.batched.StackedNetwork`; what pays on a GPU), and split
them over a team of threads (what pays on a multi-core CPU).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from fedutils.data.dataset import LabelledData
from fedutils.data.targets import TargetSet
from fedutils.models import load_flat_parameters
from fedutils.parallel import ThreadTeam
from fedutils.simulation.batched import StackedNetwork
from fedutils.training import (
    EVAL_BATCH_SIZE,
    Evaluation,
    TargetOutcome,
    evaluate,
    evaluate_targets,
    evaluation_from_logits,
    evaluations_from_logits,
    logits,
    target_outcomes_from_probabilities,
)

Outcome = tuple[Evaluation, list[TargetOutcome]]


class Evaluator:
    """Evaluates flat parameter vectors on fixed validation data and targets.

    Args:
        model: a workspace network of the right architecture (its weights are overwritten).
        validation: the validation split (the test set, as in the paper).
        targets: the adversarial target set.
        stacked: evaluate many candidates as one stacked model (one vmapped
            pass) rather than one after another.
        team: threads to share many candidates between (each with its own
            copy of the workspace); ``None`` evaluates them in the calling thread.
    """

    def __init__(
        self,
        model: nn.Module,
        validation: LabelledData,
        targets: TargetSet,
        *,
        stacked: bool = False,
        team: ThreadTeam | None = None,
    ) -> None:
        self.model = model
        self.validation = validation
        self.targets = targets
        self.stacked = stacked
        self.team = team
        self._workspaces = [model]
        self._networks: list[StackedNetwork] = []

    def evaluate(self, params: torch.Tensor) -> Outcome:
        """Validation accuracy and loss, and the outcome on every target, of the model ``params``.

        With a team of threads, each computes the outputs of its share of the validation set, cut at whole
        evaluation batches (:data:`~fedutils.training.EVAL_BATCH_SIZE`): the batches, and so the numbers, are
        those of one thread evaluating it all, in a fraction of the time (model A's 10,000 images took one
        core for seconds while the other waited).
        """
        if self.team is None or self.team.size == 1:
            return self._evaluate_one(self.model, params)
        cuts = _batch_aligned_cuts(len(self.validation), self.team.size)

        def share(worker: int) -> torch.Tensor:
            model = load_flat_parameters(self._workspace(worker), params)
            return logits(model, self.validation.x[cuts[worker] : cuts[worker + 1]])

        self._make_per_thread(self.team.size, stacked=False)
        outputs = torch.cat(self.team.map(share))
        return evaluation_from_logits(outputs, self.validation.y), evaluate_targets(self._workspaces[0], self.targets)

    def accuracy(self, params: torch.Tensor) -> float:
        """Validation accuracy (a fraction) of the model ``params``, without the targets."""
        load_flat_parameters(self.model, params)
        return evaluate(self.model, self.validation).accuracy

    def evaluate_many(self, params: torch.Tensor) -> list[Outcome]:
        """:meth:`evaluate` for each row of ``params`` ``(n, P)``."""
        if self.team is None:
            return self._evaluate_rows(0, params)
        self._make_per_thread(self.team.size, stacked=self.stacked)
        parts = params.tensor_split(self.team.size)
        return [outcome for part in self.team.map(lambda i: self._evaluate_rows(i, parts[i])) for outcome in part]

    def accuracies(self, params: torch.Tensor) -> list[float]:
        """:meth:`accuracy` for each row of ``params`` ``(n, P)``."""
        if not self.stacked and self.team is None:
            return [self.accuracy(row) for row in params]
        return [evaluation.accuracy for evaluation, _ in self.evaluate_many(params)]

    def _evaluate_rows(self, worker: int, params: torch.Tensor) -> list[Outcome]:
        """The candidates ``params`` evaluated with worker ``worker``'s own workspace (threads share none)."""
        if len(params) == 0:
            return []
        if not self.stacked:
            model = self._workspace(worker)
            return [self._evaluate_one(model, row) for row in params]
        network = self._network(worker)
        evaluations = evaluations_from_logits(network.logits(params, self.validation.x), self.validation.y)
        probabilities = network.logits(params, self.targets.x).softmax(-1).cpu()  # every candidate's, at once
        return [
            (evaluation, target_outcomes_from_probabilities(rows, self.targets))
            for evaluation, rows in zip(evaluations, probabilities, strict=True)
        ]

    def _evaluate_one(self, model: nn.Module, params: torch.Tensor) -> Outcome:
        load_flat_parameters(model, params)
        return evaluate(model, self.validation), evaluate_targets(model, self.targets)

    def _make_per_thread(self, workers: int, *, stacked: bool) -> None:
        """Each of ``workers`` threads' own stacked network or workspace, made here in the calling thread rather
        than in the threads."""
        for worker in range(workers):
            if stacked:
                self._network(worker)
            else:
                self._workspace(worker)

    def _workspace(self, worker: int) -> nn.Module:
        """Worker ``worker``'s own copy of the workspace network (worker 0's is ``model``)."""
        while len(self._workspaces) <= worker:
            self._workspaces.append(copy.deepcopy(self.model))
        return self._workspaces[worker]

    def _network(self, worker: int) -> StackedNetwork:
        while len(self._networks) <= worker:
            self._networks.append(StackedNetwork(self.model, tuple(self.validation.x.shape[1:])))
        return self._networks[worker]


def _batch_aligned_cuts(count: int, parts: int) -> list[int]:
    """``parts + 1`` boundaries that split ``count`` rows into about equal parts of whole evaluation batches."""
    batches = -(-count // EVAL_BATCH_SIZE)
    return [min(count, (batches * part // parts) * EVAL_BATCH_SIZE) for part in range(parts)] + [count]
