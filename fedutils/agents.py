"""Agents: anything that maps the global model to an update δ.

The federation only calls :meth:`Agent.compute_update`; benign agents train
on their shard, and malicious agents (in :mod:`fedutils.attacks`) plug in the
same way without the round loop knowing about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from fedutils.data.dataset import LabelledData
from fedutils.models import flatten_parameters, load_flat_parameters
from fedutils.seeding import Stream, derive_seed, torch_seeded
from fedutils.training import BatchOrder, local_step_count, train_locally


@runtime_checkable
class Agent(Protocol):
    """One participant of the federation.

    Attributes:
        agent_id: index in ``0 … k−1``; its FedAvg weight is α_i = 1/k.
        is_malicious: recorded with every update so results can tell agents apart.
    """

    agent_id: int
    is_malicious: bool

    def compute_update(self, global_params: torch.Tensor, round_index: int) -> torch.Tensor:
        """The update δ_i^t = w_i^t − w_G^{t−1} for round ``round_index`` (1-based), as a flat vector."""
        ...


def local_training_seed(run_seed: int, round_index: int, agent_id: int) -> int:
    """The seed of agent ``agent_id``'s local work in round ``round_index`` (batch order, dropout): its own
    stream, so that the order in which agents are computed, or computing them together, changes nothing."""
    return derive_seed(run_seed, Stream.LOCAL_TRAINING, round_index, agent_id)


@dataclass(frozen=True)
class LocalTraining:
    """How a benign agent trains in each round (SPEC §4).

    Attributes:
        epochs: E, passes over the agent's data; fractional values give fewer steps.
        batch_size: B.
        learning_rate: Adam's step size (a fresh Adam every round).
        batch_order: the authors' fixed sequential order or shuffled.
    """

    epochs: float
    batch_size: int
    learning_rate: float
    batch_order: BatchOrder = BatchOrder.SEQUENTIAL

    def steps_for(self, num_samples: int, epochs: float | None = None) -> int:
        """``int(E·n/B)`` optimiser steps for ``num_samples`` examples (``epochs`` overrides E)."""
        return local_step_count(num_samples, self.epochs if epochs is None else epochs, self.batch_size)

    def train_from(
        self,
        model: nn.Module,
        start: torch.Tensor,
        data: LabelledData,
        generator: torch.Generator,
        epochs: float | None = None,
    ) -> torch.Tensor:
        """Train ``model`` from the flat parameters ``start`` on ``data`` as a benign agent does; the result, flat."""
        load_flat_parameters(model, start)
        train_locally(
            model,
            data,
            num_steps=self.steps_for(len(data), epochs),
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            batch_order=self.batch_order,
            generator=generator,
        )
        return flatten_parameters(model)


class BenignAgent:
    """An honest agent: trains from w_G^{t−1} on its own shard and reports the difference.

    δ_i^t = argmin_δ L(D_i; w_G^{t−1} + δ), approximated by ``int(E·n_i/B)``
    Adam steps (Bhagoji et al. 2019, Eq. 1).

    Args:
        agent_id: index of the agent.
        data: the agent's shard, on the device it trains on.
        model: a workspace network of the right architecture; it may be shared
            by all agents of a federation that run one after another.
        training: local-training settings.
        seed: the run seed; each round's batch order and dropout come from a
            stream derived from it, the round and the agent id.
    """

    is_malicious = False

    def __init__(self, agent_id: int, data: LabelledData, model: nn.Module, training: LocalTraining, seed: int):
        self.agent_id = agent_id
        self.data = data
        self.model = model
        self.training = training
        self.seed = seed

    @property
    def num_steps(self) -> int:
        return self.training.steps_for(len(self.data))

    def stream_seed(self, round_index: int) -> int:
        """The seed of this agent's batch order and dropout in round ``round_index``."""
        return local_training_seed(self.seed, round_index, self.agent_id)

    def compute_update(self, global_params: torch.Tensor, round_index: int) -> torch.Tensor:
        with torch_seeded(self.stream_seed(round_index), global_params.device) as generator:
            trained = self.training.train_from(self.model, global_params, self.data, generator)
        return trained - global_params
