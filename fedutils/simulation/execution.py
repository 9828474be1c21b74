"""How a round's updates are computed: one agent after another, the honest agents stacked, or spread over cores.

The round loop (:mod:`fedutils.simulation.federation`) asks an executor for the updates
of the agents it selected and never learns how they were computed:

* :class:`SequentialExecutor` calls each agent's
  :meth:`~fedutils.agents.Agent.compute_update` in turn.
* :class:`BatchedExecutor` trains the honest agents that share their local
  training together, as one stacked model (:mod:`fedutils.simulation.batched`), and lets
  every other agent — the attacker — compute its update alone, as before.
  On a GPU this is what keeps the device busy: in a probe, one local step of ten agents
  took 3.3 ms (``fast`` CNN) and 4.5 ms (model A) on an H200, against 18.4 and
  21.4 ms for ten agents one by one. On two CPU cores a whole ``fast``
  round batched took 0.51 of the sequential time (``benchmarks/executors.py``,
  2026-12-08, the copies run layer by layer: :mod:`fedutils.simulation.layerwise`).
* :class:`ParallelExecutor` splits the honest agents over the CPU cores and
  trains the parts at the same time, in threads with one intra-op thread
  each, while the calling thread computes the attacker's update. On two CPU
  cores a ``fast`` round took 0.55 of the sequential time
  (``benchmarks/executors.py``, 2026-12-08), because one agent's small
  operations cannot use two cores. Each thread stacks its agents only for small
  networks (:data:`CPU_STACKING_LIMIT`): one round's local training of model A
  on two cores took 5.25 s one agent at a time per thread, 6.23 s stacked and
  5.06 s sequential; the ``fast`` CNN's took 0.07 s stacked and 0.13 s one
  at a time (10 agents × 300 images, E = 1; ``benchmarks/cpu_stacking.py``,
  2026-12-08).
  It also shares the machine gracefully: beside a second copy
  of itself a round took 2.0–2.8× as long (a fair share is 2×), where the
  sequential path, whose two OpenMP threads per process spin waiting for each
  other, took 5.2–9.4× as long (``benchmarks/beside_itself.py``, two runs).

``auto`` picks ``batched`` on a GPU, ``parallel`` on a CPU with several
cores, and ``sequential`` on one core.

All give the same updates up to float rounding: each honest agent draws its
batches and dropout masks from its own seeded stream
(:func:`~fedutils.agents.local_training_seed`) whichever way it is trained.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import torch
from torch import nn

from fedutils.agents import Agent, BenignAgent
from fedutils.config import TEST_SIZES, TRAIN_SIZES, ExperimentConfig
from fedutils.device import free_memory
from fedutils.errors import ConfigError
from fedutils.models import INPUT_SHAPES, build_model
from fedutils.options import require_share
from fedutils.parallel import ThreadTeam, available_cores, one_intra_op_thread
from fedutils.progress import progress_bar
from fedutils.run_options import ExecutorName
from fedutils.seeding import Stream, numpy_rng
from fedutils.simulation.batched import BYTES_PER_FLOAT, StackedNetwork

STACKING_DEVICES = ("cuda", "mps")
"""Device types on which ``auto`` stacks the honest agents (see the module docstring for the measurements)."""

CPU_STACKING_LIMIT = 20_000
"""On a CPU, the parallel executor stacks a thread's agents only for networks with at most this many activations
per example (the outputs of all their layers,
:attr:`~fedutils.simulation.batched.StackedNetwork.activations_per_example`): the ``fast`` CNN has about 2,300
and trains faster stacked; model A has about 151,000, and its convolutions, stacked, run as grouped convolutions
that are slower than one agent's at a time (see the module docstring)."""

MEMORY_SHARE = 0.5
"""The share of a GPU's free memory that stacked training may plan to use; more agents than fit train in groups
(and a group that runs out of memory all the same is split in two and tried again)."""


class AgentsDropped(Exception):
    """Some of a round's agents sent no update (a real federation's clients drop out, see
    :mod:`fedutils.flower`); the round goes on with those that did.

    Attributes:
        answered: the positions, among the agents asked, of those that sent an update.
        updates: their updates, stacked ``(len(answered), P)`` in that order.
    """

    def __init__(self, answered: Sequence[int], updates: torch.Tensor) -> None:
        super().__init__(f"{len(answered)} agents answered")
        self.answered = list(answered)
        self.updates = updates


class Executor(Protocol):
    """Computes the updates of a round's selected agents.

    Attributes:
        stacked_evaluation: whether the server should evaluate many candidate
            models as one stacked model too (see :class:`~fedutils.simulation.evaluator.Evaluator`).
        team: threads the server may share its evaluations between, or ``None``.
    """

    stacked_evaluation: bool
    team: ThreadTeam | None

    def running(self) -> contextlib.AbstractContextManager[None]:
        """What a whole run happens inside (for the parallel executor: one intra-op thread in the calling thread)."""
        ...

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        """The updates δ_i^t of ``agents`` from w_G^{t−1} = ``global_params``, stacked ``(len(agents), P)`` in order.

        Raises:
            AgentsDropped: (only an executor whose agents may go missing) some agents sent nothing.
        """
        ...


class SequentialExecutor:
    """Every agent computes its update in turn."""

    stacked_evaluation = False
    team = None

    def running(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

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
    team = None

    def __init__(self, max_stacked: int | None = None, memory_share: float = 1.0) -> None:
        if max_stacked is not None and (
            isinstance(max_stacked, bool) or not isinstance(max_stacked, int) or max_stacked < 1
        ):
            raise ConfigError(f"max_stacked must be an integer of at least 1 or None, got {max_stacked!r}.")
        require_share(memory_share, "memory_share")
        self.max_stacked = max_stacked
        self.memory_share = float(memory_share)
        self._networks = _Networks()

    def running(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        rows: list[torch.Tensor | None] = [None] * len(agents)
        groups, others = _honest_groups(agents)
        for position in others:
            rows[position] = agents[position].compute_update(global_params, round_index)
        for members in groups:
            network = self._networks.get(members[0][1])
            size = self._group_size(network, members[0][1], global_params.device)
            start = 0
            while start < len(members):
                part = members[start : start + size]
                description = f"round {round_index}: {len(part)} agents stacked"
                try:
                    trained = _train_stacked(network, part, global_params, round_index, progress, description)
                except torch.cuda.OutOfMemoryError:
                    if size == 1:
                        raise
                    size = max(1, size // 2)  # the plan was too generous: the same agents again, in halves
                    _release_cached_memory(global_params.device)
                    continue
                for (position, _), row in zip(part, trained, strict=True):
                    rows[position] = row
                start += len(part)
        return torch.stack(rows)  # type: ignore[arg-type]

    def _group_size(self, network: StackedNetwork, agent: BenignAgent, device: torch.device) -> int:
        """How many agents train as one model: ``max_stacked``, else as many as :data:`MEMORY_SHARE` of this
        run's share of the device's free memory holds (:func:`~fedutils.device.free_memory`; no limit on a CPU)."""
        if self.max_stacked is not None:
            return self.max_stacked
        free = free_memory(device)
        if free is None:
            return 1 << 30
        batch = min(agent.training.batch_size, len(agent.data))
        return stacked_group_size(network.training_bytes(batch), int(self.memory_share * free))


class ParallelExecutor:
    """The honest agents split over ``workers`` threads that train their parts at the same time, one core each;
    every other agent (the attacker) computes its update in the calling thread meanwhile.

    The agents are dealt to the threads so that their local steps add up
    about evenly (longest first: with non-IID shards agents differ), and each
    thread trains the agents of its share that take the same number of steps
    as one stacked model (:mod:`fedutils.simulation.batched`) — for small networks; a
    large one (more than :data:`CPU_STACKING_LIMIT` activations per example)
    trains one agent at a time in each thread — with each agent's own seeded
    batches and dropout masks, so the updates are the sequential ones up to
    float rounding. The server's evaluations of many candidates are shared
    between the same threads, each evaluating its share as one stacked model.

    Args:
        workers: threads working at once; ``None`` means one per CPU core available.
        stacking_limit: the largest network (activations per example) whose agents a thread stacks.
    """

    stacked_evaluation = True

    def __init__(self, workers: int | None = None, stacking_limit: int = CPU_STACKING_LIMIT) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers must be an integer of at least 1 or None, got {workers!r}.")
        self.team = ThreadTeam.shared(workers or available_cores())
        self.stacking_limit = stacking_limit
        self._networks = [_Networks() for _ in range(self.team.size)]

    def running(self) -> contextlib.AbstractContextManager[None]:
        """The calling thread (the attacker, the server) also keeps to one intra-op thread, so that it and the
        team's threads never oversubscribe the cores."""
        return one_intra_op_thread()

    def stacks(self, network: StackedNetwork) -> bool:
        """Whether a thread trains its agents of ``network`` as one stacked model (else one after another)."""
        return network.activations_per_example <= self.stacking_limit

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        rows: list[torch.Tensor | None] = [None] * len(agents)
        groups, others = _honest_groups(agents)
        jobs: list[list[_Part]] = [[] for _ in range(self.team.size)]
        for worker, share in enumerate(_balanced_shares(groups, self.team.size)):
            for part in _honest_groups([agent for _, agent in share], equal_steps=True)[0]:
                members = [share[i] for i, _ in part]  # positions in the round, not in the share
                # the networks are made here, in the calling thread: each thread then only uses its own
                network = self._networks[worker].get(members[0][1])
                if self.stacks(network):
                    jobs[worker].append((network, members))
                else:
                    jobs[worker] += [(network, [member]) for member in members]
        futures = [self.team.submit(partial(_train_parts, job, global_params, round_index)) for job in jobs if job]
        bar = progress_bar(
            total=len(agents), desc=f"round {round_index}", unit="agent", leave=False, disable=not progress
        )
        with one_intra_op_thread():  # also when called outside running()
            for position in others:
                rows[position] = agents[position].compute_update(global_params, round_index)
                bar.update()
            for future in futures:
                for position, row in future.result():
                    rows[position] = row
                    bar.update()
        bar.close()
        return torch.stack(rows)  # type: ignore[arg-type]


def drops_out(config: ExperimentConfig, round_index: int, agent_id: int) -> bool:
    """Whether agent ``agent_id``, selected in round ``round_index``, drops out (``config.dropout``, drawn from
    the run's seeded dropout stream: the same on every engine and rerun)."""
    if config.dropout <= 0:
        return False
    return bool(numpy_rng(config.seed, Stream.DROPOUT, round_index, agent_id).random() < config.dropout)


class WithDropouts:
    """An executor whose selected agents may drop out of a round (the experiment's ``dropout``).

    The agents drawn to drop out are not asked; the others' updates come from
    ``executor``, and the round goes on without the missing ones
    (:class:`AgentsDropped`), as in a real federation (:mod:`fedutils.flower`,
    whose nodes draw the same dropouts).
    """

    def __init__(self, executor: Executor, config: ExperimentConfig) -> None:
        self.executor = executor
        self.config = config
        self.stacked_evaluation = executor.stacked_evaluation
        self.team = executor.team

    def running(self) -> contextlib.AbstractContextManager[None]:
        return self.executor.running()

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        answered = [i for i, agent in enumerate(agents) if not drops_out(self.config, round_index, agent.agent_id)]
        if len(answered) == len(agents):
            return self.executor.updates(agents, global_params, round_index, progress=progress)
        present = [agents[i] for i in answered]
        updates = (
            self.executor.updates(present, global_params, round_index, progress=progress)
            if present
            else global_params.new_zeros(0, len(global_params))
        )
        raise AgentsDropped(answered, updates)


_Part = tuple[StackedNetwork, list[tuple[int, BenignAgent]]]
"""Honest agents (with their positions in the round) that one thread trains as one stacked network."""


def _train_parts(parts: list[_Part], global_params: torch.Tensor, round_index: int) -> list[tuple[int, torch.Tensor]]:
    """One thread's work in a round: each part trained as one stacked model; (position, update) pairs."""
    done = []
    for network, members in parts:
        updates = _train_stacked(network, members, global_params, round_index, False, "")
        done += [(position, row) for (position, _), row in zip(members, updates, strict=True)]
    return done


class _Networks:
    """One :class:`StackedNetwork` per workspace model (a network is used by one thread at a time), keyed by the
    model itself (modules hash by identity), so an entry lives as long as its model."""

    def __init__(self) -> None:
        self._by_model: dict[nn.Module, StackedNetwork] = {}

    def get(self, agent: BenignAgent) -> StackedNetwork:
        if agent.model not in self._by_model:
            self._by_model[agent.model] = StackedNetwork(agent.model, tuple(agent.data.x.shape[1:]))
        return self._by_model[agent.model]


def _honest_groups(
    agents: Sequence[Agent], *, equal_steps: bool = False
) -> tuple[list[list[tuple[int, BenignAgent]]], list[int]]:
    """The honest agents grouped by what they share (so each group can be stacked), with their positions;
    and the positions of every other agent. ``equal_steps``: a group's agents also take the same number of
    local steps (stacked copies that finish early would otherwise be computed, and discarded, until the last)."""
    groups: dict[Hashable, list[tuple[int, BenignAgent]]] = defaultdict(list)
    others = []
    for position, agent in enumerate(agents):
        if isinstance(agent, BenignAgent):
            batch = min(agent.training.batch_size, len(agent.data))
            steps = agent.num_steps if equal_steps else None
            groups[id(agent.model), agent.training, batch, steps].append((position, agent))
        else:
            others.append(position)
    return list(groups.values()), others


def _balanced_shares(
    groups: Sequence[Sequence[tuple[int, BenignAgent]]], count: int
) -> list[list[tuple[int, BenignAgent]]]:
    """The honest agents dealt to ``count`` threads, longest first to the least loaded, so that their local
    steps add up about evenly (equal agents go round robin, in their order)."""
    shares: list[list[tuple[int, BenignAgent]]] = [[] for _ in range(count)]
    loads = [0] * count
    members = sorted((member for group in groups for member in group), key=lambda member: -member[1].num_steps)
    for member in members:
        lightest = loads.index(min(loads))
        shares[lightest].append(member)
        loads[lightest] += member[1].num_steps
    return shares


def _train_stacked(
    network: StackedNetwork,
    members: Sequence[tuple[int, BenignAgent]],
    global_params: torch.Tensor,
    round_index: int,
    progress: bool,
    description: str,
) -> torch.Tensor:
    """The updates of ``members`` (honest agents sharing their local training), trained as one stacked model."""
    agents = [agent for _, agent in members]
    training = agents[0].training
    trained = network.train(
        global_params,
        [agent.data for agent in agents],
        [agent.num_steps for agent in agents],
        [agent.stream_seed(round_index) for agent in agents],
        batch_size=training.batch_size,
        learning_rate=training.learning_rate,
        batch_order=training.batch_order,
        progress=progress,
        description=description,
    )
    return trained - global_params


def resolve_executor(name: str | ExecutorName, device: torch.device, cores: int | None = None) -> ExecutorName:
    """``auto`` → ``batched`` on CUDA and MPS, ``parallel`` on a CPU with ``cores`` ≥ 2 (default: the cores
    available), ``sequential`` on one core; other names as they are.

    Raises:
        ConfigError: the name is not an executor.
    """
    try:
        choice = ExecutorName(name)
    except ValueError:
        allowed = ", ".join(e.value for e in ExecutorName)
        raise ConfigError(f"executor must be one of {allowed}; got {name!r}.") from None
    if choice is not ExecutorName.AUTO:
        return choice
    if device.type in STACKING_DEVICES:
        return ExecutorName.BATCHED
    return ExecutorName.PARALLEL if (cores or available_cores()) >= 2 else ExecutorName.SEQUENTIAL


@dataclass(frozen=True)
class MemoryNeeds:
    """What a run holds on its device, by the batched executor's own estimate (bytes, float32).

    Attributes:
        per_agent: one stacked agent's training: parameters, gradients, Adam's two moments, the finished copy
            and the activations kept for the backward pass
            (:meth:`~fedutils.simulation.batched.StackedNetwork.training_bytes`).
        data: every agent's shard and the test split (validation and targets), all kept on the device.
        agents: the agents trained in a round (k · C).
    """

    per_agent: int
    data: int
    agents: int

    def group(self, free_bytes: int) -> int:
        """Agents trained as one model with ``free_bytes`` free (:func:`stacked_group_size`), at most a round's."""
        return min(self.agents, stacked_group_size(self.per_agent, free_bytes - self.data))

    def peak(self, free_bytes: int) -> int:
        """The most the run holds at once with ``free_bytes`` free: its data and one group's training."""
        return self.data + self.group(free_bytes) * self.per_agent


def memory_needs(config: ExperimentConfig) -> MemoryNeeds:
    """The memory a run of ``config`` needs on its device, as the batched executor plans it."""
    shape = INPUT_SHAPES[config.model]
    network = StackedNetwork(build_model(config.model), shape)
    per_example = BYTES_PER_FLOAT * math.prod(shape)
    shard = config.samples_per_agent or TRAIN_SIZES[config.dataset] // config.num_agents
    examples = shard * config.num_agents + TEST_SIZES[config.dataset]
    return MemoryNeeds(
        network.training_bytes(min(config.batch_size, shard)), per_example * examples, config.agents_per_round
    )


def stacked_group_size(bytes_per_agent: int, free_bytes: int) -> int:
    """How many agents the batched executor trains as one model when each needs ``bytes_per_agent``
    (:meth:`~fedutils.simulation.batched.StackedNetwork.training_bytes`) and ``free_bytes`` are free to it:
    as many as :data:`MEMORY_SHARE` of the free memory holds, at least one."""
    return max(1, int(MEMORY_SHARE * free_bytes) // bytes_per_agent)


def _release_cached_memory(device: torch.device) -> None:
    """Give the blocks torch's allocator caches back to the device (after an out-of-memory error)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def build_executor(name: str | ExecutorName, device: torch.device, *, memory_share: float = 1.0) -> Executor:
    """The executor called ``name`` (see :func:`resolve_executor`) for a run on ``device`` that may plan with
    ``memory_share`` of the device's free memory (several runs sharing one GPU each take their part)."""
    choice = resolve_executor(name, device)
    if choice is ExecutorName.BATCHED:
        return BatchedExecutor(memory_share=memory_share)
    if choice is ExecutorName.PARALLEL:
        return ParallelExecutor()
    return SequentialExecutor()
