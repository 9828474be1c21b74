"""Federated averaging (McMahan et al. 2017), the paper's aggregation rule (Bhagoji et al. 2019, §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, Aggregator, ServerContext, all_rows, check_stack


def fedavg(updates: torch.Tensor, weights: torch.Tensor) -> Aggregation:
    """The global step Σ_i α_i δ_i.

    With the paper's fixed weights α_i = l_i / l = 1/k, the weights of the
    agents selected in a round sum to C rather than 1 when only a fraction C
    of the k agents take part, exactly as in the authors' code (SPEC §2.4).
    """
    check_stack(updates, weights)
    return Aggregation(weights.to(updates.dtype) @ updates, all_rows(updates))


@dataclass(frozen=True)
class FedAvg(Aggregator):
    """FedAvg: the step Σ_i α_i δ_i (:func:`fedavg`); the paper's server."""

    name: ClassVar[str] = "fedavg"
    summary: ClassVar[str] = "FedAvg, Σ α_i δ_i: the paper's server"
    estimates_one_update: ClassVar[bool] = False
    legacy_wire: ClassVar[bool] = True

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        return fedavg(updates, weights)
