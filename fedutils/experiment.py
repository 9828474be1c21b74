"""Putting a run together: data → split → agents → federation → results (cached).

:func:`run_experiment` is what the command line and the chapters call.
:func:`run_seeds` repeats it over seeds and :func:`run_many` over a grid of configurations;
:func:`prepare` exposes the pieces (data, shards, targets) for figures.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from fedutils.agents import Agent, BenignAgent, LocalTraining
from fedutils.aggregators import AggregationRule
from fedutils.attacks import build_malicious_agent
from fedutils.checks import ServerResources
from fedutils.config import DatasetName, ExperimentConfig, PartitionScheme
from fedutils.data.adult import load_adult
from fedutils.data.dataset import Dataset, LabelledData
from fedutils.data.fashion_mnist import load_fashion_mnist
from fedutils.data.partition import dirichlet_shards, iid_shards
from fedutils.data.targets import TargetSet, make_target_set
from fedutils.device import resolve_device
from fedutils.errors import ConfigError
from fedutils.evaluator import Evaluator
from fedutils.execution import Executor, ExecutorName, build_executor, resolve_executor
from fedutils.federation import run_federation
from fedutils.grid_backends import GridBackend, grid_backend, run_on_ray
from fedutils.models import build_model, flatten_parameters, weight_mask
from fedutils.options import Choice
from fedutils.parallel import ThreadTeam
from fedutils.progress import progress_bar
from fedutils.results import ResultCache, RunResult
from fedutils.seeding import Stream, derive_seed, torch_seeded

Key = TypeVar("Key")


class EngineName(Choice):
    """What runs a federation: fedutils' own round loop, or Flower's simulation engine (:mod:`fedutils.flower`)."""

    SIMULATOR = "simulator"
    FLOWER = "flower"


FLOWER_PACKAGES = ("flwr", "ray")
"""What ``engine="flower"`` needs beyond fedutils' own requirements (the ``flower`` extra)."""


def _engine(engine: str | EngineName, executor: str | ExecutorName) -> EngineName:
    """The engine asked for, refusing an executor choice where it would be ignored (each Flower client trains
    its own agent)."""
    try:
        choice = EngineName(engine)
    except ValueError:
        allowed = ", ".join(e.value for e in EngineName)
        raise ConfigError(f"engine must be one of {allowed}; got {engine!r}.") from None
    if choice is EngineName.FLOWER and executor != ExecutorName.AUTO:
        raise ConfigError(
            f"executor {str(executor)!r} applies to the simulator engine only: with engine 'flower' "
            "each Flower client trains its own agent, so leave executor at 'auto'."
        )
    return choice


_LOADERS = {DatasetName.FASHION_MNIST: load_fashion_mnist, DatasetName.ADULT: load_adult}


@dataclass(frozen=True)
class Setup:
    """The data side of an experiment, on the CPU.

    Attributes:
        config: the experiment.
        dataset: the full dataset.
        shards: per agent, the indices of its training examples.
        validation: the split the run's reported validation accuracy uses.
        targets: the adversarial target set.
        held_out: the server's own validation data for accuracy checking (the
            last examples of the test split, targets excluded), or ``None``
            when no accuracy check runs.
    """

    config: ExperimentConfig
    dataset: Dataset
    shards: list[np.ndarray]
    validation: LabelledData
    targets: TargetSet
    held_out: LabelledData | None = None

    def agent_data(self, agent_id: int) -> LabelledData:
        """Agent ``agent_id``'s training examples, contiguous in memory."""
        return self.dataset.train.subset(self.shards[agent_id])


def load_dataset(name: DatasetName, data_root: str | Path | None = None, *, download: bool = True) -> Dataset:
    """Load a dataset by name (see each loader for where it looks)."""
    return _LOADERS[DatasetName(name)](data_root, download=download)


def partition(config: ExperimentConfig, train_labels: np.ndarray) -> list[np.ndarray]:
    """Per agent, the indices of its training examples under ``config``'s partition scheme."""
    if config.partition is PartitionScheme.IID:
        shards = iid_shards(len(train_labels), config.num_agents, config.partition_seed)
    else:
        shards = dirichlet_shards(
            train_labels,
            config.num_agents,
            config.dirichlet_alpha,
            config.partition_seed,
            min_samples=config.batch_size,
        )
    if config.samples_per_agent is not None:
        shards = [s[: config.samples_per_agent] for s in shards]
    return shards


def prepare(config: ExperimentConfig, data_root: str | Path | None = None, *, download: bool = True) -> Setup:
    """Load the data and derive the split, the validation set and the targets."""
    dataset = load_dataset(config.dataset, data_root, download=download)
    shards = partition(config, dataset.train.y.numpy())
    validation = dataset.test.subset(slice(0, config.reported_validation_size))
    targets = make_target_set(dataset.test, config.targets, dataset.class_names)
    reserved = config.checks.reserved_samples if config.checks is not None else 0
    held_out = None
    if reserved:
        indices = np.arange(len(dataset.test) - reserved, len(dataset.test))
        held_out = dataset.test.subset(np.setdiff1d(indices, [t.index for t in config.targets]))
    return Setup(config, dataset, shards, validation, targets, held_out)


def initial_parameters(config: ExperimentConfig, num_classes: int) -> torch.Tensor:
    """w_G^0: a Keras-style initialisation drawn from the run's seeded init stream."""
    with torch_seeded(derive_seed(config.seed, Stream.INIT)):
        return flatten_parameters(build_model(config.model, num_classes))


def build_agent(setup: Setup, agent_id: int, device: torch.device, workspace: nn.Module | None = None) -> Agent:
    """Agent ``agent_id`` of ``setup``: the attacker if the configuration makes it one, else an honest agent.

    Args:
        workspace: the network it trains in, shared by agents that run one after another (made here if ``None``).
    """
    config = setup.config
    if workspace is None:
        workspace = build_model(config.model, setup.dataset.num_classes).to(device)
    training = LocalTraining(config.local_epochs, config.batch_size, config.learning_rate, config.batch_order)
    data = setup.agent_data(agent_id).to(device)
    if agent_id != config.malicious_agent:
        return BenignAgent(agent_id, data, workspace, training, config.seed)
    return build_malicious_agent(
        config.attack,
        agent_id=agent_id,
        data=data,
        model=workspace,
        targets=setup.targets.to(device),
        training=training,
        seed=config.seed,
        aggregation_weight=config.aggregation_weight,
    )


def build_agents(setup: Setup, device: torch.device) -> list[Agent]:
    """The k agents of ``setup`` (benign, and the attacker if there is one), sharing one workspace on ``device``."""
    workspace = build_model(setup.config.model, setup.dataset.num_classes).to(device)
    return [build_agent(setup, i, device, workspace) for i in range(setup.config.num_agents)]


def server_resources(
    setup: Setup, device: torch.device, *, stacked: bool = False, team: ThreadTeam | None = None
) -> ServerResources:
    """What the server works with: its aggregation rule, the model's weight mask and accuracy on its held-out data
    (``stacked`` and ``team``: how it evaluates many candidates, see :class:`~fedutils.evaluator.Evaluator`)."""
    model = build_model(setup.config.model, setup.dataset.num_classes).to(device)
    mask = weight_mask(model).to(device)
    rule = setup.config.aggregator or AggregationRule()
    aggregate = functools.partial(rule.aggregate, weight_mask=mask)
    if setup.held_out is None:
        return ServerResources(_no_held_out_data, aggregate, mask)
    checker = Evaluator(model, setup.held_out.to(device), setup.targets.to(device), stacked=stacked, team=team)
    return ServerResources(checker.accuracies, aggregate, mask)


def _no_held_out_data(params: torch.Tensor) -> list[float]:
    raise ValueError("the server holds no validation data of its own: only an accuracy check reserves it")


def run_experiment(
    config: ExperimentConfig,
    *,
    data_root: str | Path | None = None,
    download: bool = True,
    device: str | torch.device = "auto",
    executor: str | ExecutorName = ExecutorName.AUTO,
    engine: str | EngineName = EngineName.SIMULATOR,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Run (or fetch from the cache) the federated experiment ``config``.

    Args:
        config: the experiment.
        data_root: where the dataset lives (see :mod:`fedutils.data.fashion_mnist`).
        download: allow downloading a missing dataset.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        executor: how each round's local training runs (:mod:`fedutils.execution`):
            ``"auto"`` (the honest agents stacked as one model on a GPU, spread
            over the cores of a CPU), ``"sequential"``, ``"parallel"`` or
            ``"batched"``. Like the device, it changes how the numbers are
            computed (up to float rounding), not what they are, so it is not part
            of the configuration or of the cache key.
        engine: what runs the federation: ``"simulator"``, fedutils' own round
            loop in this process, or ``"flower"``, Flower's simulation engine
            (Ray), each agent a Flower client (:mod:`fedutils.flower`, installed
            with ``pip install fedutils[flower]``). The same records either way
            (``tests/test_flower.py``); not part of the cache key either, so pass
            ``cache=False`` to run a cached configuration again on the other engine.
        cache: reuse a finished run with the same configuration, and store this one.
        cache_dir: the cache folder (default ``$FEDUTILS_CACHE`` or ``~/.cache/fedutils/runs``).
        progress: show progress bars.
    """
    engine = _engine(engine, executor)
    torch_device = resolve_device(device)
    resolve_executor(executor, torch_device)  # a bad name is refused before any cache lookup or training
    store = ResultCache(cache_dir) if cache else None
    if store is not None:
        cached = store.load(config.to_dict())
        if cached is not None:
            return cached
    if engine is EngineName.FLOWER:
        run_on_flower = _flower_simulation()
        result = run_on_flower(config, data_root=data_root, download=download, device=torch_device, progress=progress)
    else:
        setup = prepare(config, data_root, download=download)
        execution = build_executor(executor, torch_device)  # only the simulator needs one (threads, networks)
        result = federate(setup, build_agents(setup, torch_device), torch_device, execution, progress=progress)
    if store is not None:
        store.save(result)
    return result


def _flower_simulation() -> Any:
    """:func:`fedutils.flower.simulation.run_on_flower`, imported only when asked for (Flower is an extra).

    Raises:
        ConfigError: Flower or Ray is not installed.
    """
    try:
        from fedutils.flower.simulation import run_on_flower
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in FLOWER_PACKAGES:
            raise
        raise ConfigError(
            f"engine 'flower' needs Flower's simulation engine, which is not installed ({error.name} is missing); "
            "install it with: pip install 'fedutils[flower]'."
        ) from None
    return run_on_flower


def federate(
    setup: Setup, agents: Sequence[Agent], device: torch.device, execution: Executor, *, progress: bool = True
) -> RunResult:
    """Run the federation of ``setup`` with ``agents``, their updates computed by ``execution``; the server's
    evaluator, w_G^0 and resources (aggregation rule, held-out data) are made here, on ``device``."""
    config = setup.config
    evaluator = Evaluator(
        build_model(config.model, setup.dataset.num_classes).to(device),
        setup.validation.to(device),
        setup.targets.to(device),
        stacked=execution.stacked_evaluation,
        team=execution.team,
    )
    initial = initial_parameters(config, setup.dataset.num_classes).to(device)
    server = server_resources(setup, device, stacked=execution.stacked_evaluation, team=execution.team)
    with execution.running():
        return run_federation(config, agents, evaluator, initial, server=server, executor=execution, progress=progress)


def run_seeds(config: ExperimentConfig, seeds: Sequence[int], **options: Any) -> list[RunResult]:
    """Run ``config`` once per seed (each run cached on its own); ``options`` as for :func:`run_experiment`."""
    return [run_experiment(config.replace(seed=seed), **options) for seed in seeds]


def run_many(
    configs: Mapping[Key, ExperimentConfig],
    *,
    backend: str | GridBackend = GridBackend.LOCAL,
    address: str | None = None,
    **options: Any,
) -> dict[Key, RunResult]:
    """Run every configuration of a grid (attack × defense, a λ sweep, ...), each cached on its own.

    A progress bar counts the runs. With ``backend="local"`` they run one after
    another in this process, and each run's own bars are hidden unless
    ``progress=True`` is passed. With ``backend="ray"`` each run is a Ray task
    (:func:`fedutils.grid_backends.run_on_ray`) on a local Ray cluster, or on the
    existing cluster at ``address``, holding the CPU cores and GPU share it
    needs (``cpus_per_run=``, ``gpus_per_run=``); the results land in the run
    cache all the same. Chapter 7's model-A grid of attacks against robust
    rules, for example, on a cluster of GPU machines::

        run_many(grid, backend="ray", address="auto", device="cuda")

    Args:
        configs: any key (a label, or a tuple such as ``(attack, rule)``) → experiment.
        backend: where the runs execute: ``"local"`` (this process) or ``"ray"``
            (:mod:`fedutils.grid_backends`, installed with ``pip install 'fedutils[flower]'``).
        address: with ``backend="ray"``, the cluster to use (``"auto"``,
            ``"ray://host:10001"``, ...); ``None`` starts a local one.
        options: as for :func:`run_experiment` (and, with ``backend="ray"``,
            ``cpus_per_run`` and ``gpus_per_run`` as for :func:`~fedutils.grid_backends.run_on_ray`).

    Returns:
        The results under the same keys, in the same order.

    Raises:
        ConfigError: the backend is unknown, or ``address`` is given without ``backend="ray"``.
    """
    choice = grid_backend(backend)
    if address is not None and choice is not GridBackend.RAY:
        raise ConfigError(f"address applies to backend {GridBackend.RAY.value!r} only; got backend {choice.value!r}.")
    show = options.pop("progress", False)
    if choice is GridBackend.RAY:
        return run_on_ray(configs, address=address, **options)
    results = {}
    for key, config in progress_bar(configs.items(), desc="runs", unit="run", total=len(configs)):
        results[key] = run_experiment(config, progress=show, **options)
    return results
