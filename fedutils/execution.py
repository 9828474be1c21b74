"""How a round's updates are computed: one agent after another, or the honest agents stacked as one model.

The round loop (:mod:`fedutils.federation`) asks an executor for the updates
of the agents it selected and never learns how they were computed:

* :class:`SequentialExecutor` calls each agent's
  :meth:`~fedutils.agents.Agent.compute_update` in turn. On a CPU this is the
  fastest path: the operations of one agent already use the cores.
* :class:`BatchedExecutor` trains the honest agents that share their local
  training together, as one stacked model (:mod:`fedutils.batched`), and lets
  every other agent — the attacker — compute its update alone, as before.
  On a GPU this is what keeps the device busy: one local step of ten agents
  took 3.3 ms (``fast`` CNN) and 4.5 ms (model A) on an H200, against 18.4 and
  21.4 ms for ten agents one by one; on two CPU cores it was 0.8–0.9× as fast.

Both give the same updates: each honest agent draws its batches and dropout
masks from its own seeded stream (:func:`~fedutils.agents.local_training_seed`)
either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Protocol

import torch
from torch import nn

from fedutils.agents import Agent, BenignAgent
from fedutils.batched import StackedNetwork
from fedutils.errors import ConfigError
from fedutils.options import Choice
from fedutils.progress import progress_bar


class ExecutorName(Choice):
    """How a round's local training runs: ``auto`` (stacked on a GPU, one by one on a CPU), or either explicitly."""

    AUTO = "auto"
    SEQUENTIAL = "sequential"
    BATCHED = "batched"


STACKING_DEVICES = ("cuda", "mps")
"""Device types on which ``auto`` stacks the honest agents (see the module docstring for the measurements)."""

MEMORY_SHARE = 0.5
"""The share of a GPU's free memory that stacked training may plan to use; more agents than fit train in groups."""


class Executor(Protocol):
    """Computes the updates of a round's selected agents.

    Attributes:
        stacked_evaluation: whether the server should evaluate many candidate
            models as one stacked model too (see :class:`~fedutils.evaluator.Evaluator`).
    """

    stacked_evaluation: bool

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        """The updates δ_i^t of ``agents`` from w_G^{t−1} = ``global_params``, stacked ``(len(agents), P)`` in order."""
        ...


class SequentialExecutor:
    """Every agent computes its update in turn (the CPU default)."""

    stacked_evaluation = False

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        bar = progress_bar(agents, desc=f"round {round_index}", unit="agent", leave=False, disable=not progress)
        return torch.stack([agent.compute_update(global_params, round_index) for agent in bar])


class BatchedExecutor:
    """The honest agents of a round train as one stacked model; every other agent computes its update alone.

    Honest agents (:class:`~fedutils.agents.BenignAgent`) are stacked when they
    share their network and local training (and so their batch size); with
    k = 100 and C = 0.1 only the ten selected are. On a GPU, a group larger
    than :data:`MEMORY_SHARE` of the free memory allows is trained in parts.

    Args:
        max_stacked: the most agents trained as one model; ``None`` lets the
            free GPU memory decide (no limit on other devices).
    """

    stacked_evaluation = True

    def __init__(self, max_stacked: int | None = None) -> None:
        if max_stacked is not None and (
            isinstance(max_stacked, bool) or not isinstance(max_stacked, int) or max_stacked < 1
        ):
            raise ConfigError(f"max_stacked must be an integer of at least 1 or None, got {max_stacked!r}.")
        self.max_stacked = max_stacked
        self._networks: dict[int, StackedNetwork] = {}

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        rows: list[torch.Tensor | None] = [None] * len(agents)
        groups: dict[Hashable, list[int]] = defaultdict(list)
        for position, agent in enumerate(agents):
            if isinstance(agent, BenignAgent):
                groups[_stacking_key(agent)].append(position)
            else:
                rows[position] = agent.compute_update(global_params, round_index)
        for positions in groups.values():
            first = agents[positions[0]]
            assert isinstance(first, BenignAgent)
            network = self._network(first.model, tuple(first.data.x.shape[1:]))
            training = first.training
            size = self._group_size(network, min(training.batch_size, len(first.data)), global_params.device)
            for start in range(0, len(positions), size):
                part = positions[start : start + size]
                members = [agents[p] for p in part]
                trained = network.train(
                    global_params,
                    [m.data for m in members],  # type: ignore[attr-defined]
                    [m.num_steps for m in members],  # type: ignore[attr-defined]
                    [m.stream_seed(round_index) for m in members],  # type: ignore[attr-defined]
                    batch_size=training.batch_size,
                    learning_rate=training.learning_rate,
                    batch_order=training.batch_order,
                    progress=progress,
                    description=f"round {round_index}: {len(part)} agents stacked",
                )
                for position, row in zip(part, trained, strict=True):
                    rows[position] = row - global_params
        return torch.stack(rows)  # type: ignore[arg-type]

    def _network(self, model: nn.Module, input_shape: tuple[int, ...]) -> StackedNetwork:
        key = id(model)
        if key not in self._networks:
            self._networks[key] = StackedNetwork(model, input_shape)
        return self._networks[key]

    def _group_size(self, network: StackedNetwork, batch_size: int, device: torch.device) -> int:
        """How many agents train as one model: ``max_stacked``, else as many as half the free GPU memory holds."""
        if self.max_stacked is not None:
            return self.max_stacked
        if device.type != "cuda":
            return 1 << 30
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, int(MEMORY_SHARE * free) // network.training_bytes(batch_size))


def _stacking_key(agent: BenignAgent) -> Hashable:
    """Honest agents with equal keys can train as one stacked model."""
    return id(agent.model), agent.training, min(agent.training.batch_size, len(agent.data))


def resolve_executor(name: str | ExecutorName, device: torch.device) -> ExecutorName:
    """``auto`` → ``batched`` on CUDA and MPS, ``sequential`` elsewhere; other names as they are.

    Raises:
        ConfigError: the name is not an executor.
    """
    try:
        choice = ExecutorName(name)
    except ValueError:
        allowed = ", ".join(e.value for e in ExecutorName)
        raise ConfigError(f"executor must be one of {allowed}; got {name!r}.") from None
    if choice is ExecutorName.AUTO:
        return ExecutorName.BATCHED if device.type in STACKING_DEVICES else ExecutorName.SEQUENTIAL
    return choice


def build_executor(name: str | ExecutorName, device: torch.device) -> Executor:
    """The executor called ``name`` (see :func:`resolve_executor`) for a run on ``device``."""
    if resolve_executor(name, device) is ExecutorName.BATCHED:
        return BatchedExecutor()
    return SequentialExecutor()
