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
from fedutils.evaluator import Evaluator
from fedutils.execution import ExecutorName, build_executor
from fedutils.federation import run_federation
from fedutils.models import build_model, flatten_parameters, weight_mask
from fedutils.parallel import ThreadTeam
from fedutils.progress import progress_bar
from fedutils.results import ResultCache, RunResult
from fedutils.seeding import Stream, derive_seed, torch_seeded

Key = TypeVar("Key")

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


def build_agents(setup: Setup, device: torch.device) -> list[Agent]:
    """The k agents of ``setup`` (benign, and the attacker if there is one), sharing one workspace on ``device``."""
    config = setup.config
    workspace = build_model(config.model, setup.dataset.num_classes).to(device)
    training = LocalTraining(config.local_epochs, config.batch_size, config.learning_rate, config.batch_order)
    agents: list[Agent] = []
    for i in range(config.num_agents):
        data = setup.agent_data(i).to(device)
        if i == config.malicious_agent:
            agents.append(
                build_malicious_agent(
                    config.attack,
                    agent_id=i,
                    data=data,
                    model=workspace,
                    targets=setup.targets.to(device),
                    training=training,
                    seed=config.seed,
                    aggregation_weight=config.aggregation_weight,
                )
            )
        else:
            agents.append(BenignAgent(i, data, workspace, training, config.seed))
    return agents


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
        cache: reuse a finished run with the same configuration, and store this one.
        cache_dir: the cache folder (default ``$FEDUTILS_CACHE`` or ``~/.cache/fedutils/runs``).
        progress: show progress bars.
    """
    torch_device = resolve_device(device)
    execution = build_executor(executor, torch_device)
    store = ResultCache(cache_dir) if cache else None
    if store is not None:
        cached = store.load(config.to_dict())
        if cached is not None:
            return cached
    setup = prepare(config, data_root, download=download)
    agents = build_agents(setup, torch_device)
    evaluator = Evaluator(
        build_model(config.model, setup.dataset.num_classes).to(torch_device),
        setup.validation.to(torch_device),
        setup.targets.to(torch_device),
        stacked=execution.stacked_evaluation,
        team=execution.team,
    )
    initial = initial_parameters(config, setup.dataset.num_classes).to(torch_device)
    server = server_resources(setup, torch_device, stacked=execution.stacked_evaluation, team=execution.team)
    with execution.running():
        result = run_federation(
            config, agents, evaluator, initial, server=server, executor=execution, progress=progress
        )
    if store is not None:
        store.save(result)
    return result


def run_seeds(config: ExperimentConfig, seeds: Sequence[int], **options: Any) -> list[RunResult]:
    """Run ``config`` once per seed (each run cached on its own); ``options`` as for :func:`run_experiment`."""
    return [run_experiment(config.replace(seed=seed), **options) for seed in seeds]


def run_many(configs: Mapping[Key, ExperimentConfig], **options: Any) -> dict[Key, RunResult]:
    """Run every configuration of a grid (attack × defense, a λ sweep, ...), each cached on its own.

    A progress bar counts the runs; each run's own bars are hidden unless
    ``progress=True`` is passed. ``options`` as for :func:`run_experiment`.

    Args:
        configs: any key (a label, or a tuple such as ``(attack, rule)``) → experiment.

    Returns:
        The results under the same keys, in the same order.
    """
    show = options.pop("progress", False)
    results = {}
    for key, config in progress_bar(configs.items(), desc="runs", unit="run", total=len(configs)):
        results[key] = run_experiment(config, progress=show, **options)
    return results
