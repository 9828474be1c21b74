"""Putting a run's pieces together: data → split → targets → agents → the server's resources.

Every engine builds a run from these (the simulator in
:mod:`fedutils.simulation.engine`, the Flower adapter in :mod:`fedutils.flower`),
so an agent is the same object whichever engine computes its update.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fedutils.agents import Agent, BenignAgent, LocalTraining
from fedutils.aggregators import ServerContext, ServerNeed, ServerRule
from fedutils.checks import ServerResources
from fedutils.config import DatasetName, ExperimentConfig, PartitionScheme
from fedutils.data.adult import load_adult
from fedutils.data.dataset import Dataset, LabelledData
from fedutils.data.fashion_mnist import load_fashion_mnist
from fedutils.data.partition import dirichlet_shards, iid_shards
from fedutils.data.targets import TargetSet, make_target_set
from fedutils.deprecation import warn_renamed
from fedutils.models import build_model, flatten_parameters, weight_mask
from fedutils.parallel import ThreadTeam
from fedutils.run_options import DataSource
from fedutils.seeding import Stream, derive_seed, numpy_rng, torch_seeded
from fedutils.simulation.evaluator import Evaluator

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
            when no accuracy check runs and no rule needs data of its own.
        root: the server's root set, drawn from ``held_out``, when its rule trains on one (FLTrust), else
            ``None``.
        attack_test: with a trigger backdoor, the validation images of the other classes stamped and labelled
            as its target class (the global model's accuracy on them is the attack success rate), else ``None``.
    """

    config: ExperimentConfig
    dataset: Dataset
    shards: list[np.ndarray]
    validation: LabelledData
    targets: TargetSet
    held_out: LabelledData | None = None
    root: LabelledData | None = None
    attack_test: LabelledData | None = None

    def agent_data(self, agent_id: int) -> LabelledData:
        """Agent ``agent_id``'s training examples, contiguous in memory."""
        return self.dataset.train.subset(self.shards[agent_id])


def load_dataset(name: DatasetName, data: DataSource | None = None) -> Dataset:
    """Load a dataset by name from ``data`` (see each loader for where it looks by default)."""
    source = DataSource() if data is None else data
    return _LOADERS[DatasetName(name)](source.root, download=source.download)


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


def prepare(
    config: ExperimentConfig, data: DataSource | str | Path | None = None, *, download: bool | None = None
) -> Setup:
    """Load the data (from ``data``, see :class:`~fedutils.run_options.DataSource`) and derive the split, the
    validation set and the targets. fedutils 0.2's ``prepare(config, data_root, download=...)`` still works, with
    a warning."""
    if isinstance(data, (str, Path)) or download is not None:
        warn_renamed("prepare(config, data_root, download=...)", "prepare(config, DataSource(root, download))")
        data = DataSource(data, True if download is None else download)
    dataset = load_dataset(config.dataset, data)
    shards = partition(config, dataset.train.y.numpy())
    validation = dataset.test.subset(slice(0, config.reported_validation_size))
    targets = make_target_set(dataset.test, config.targets, dataset.class_names)
    reserved = config.server_reserved_samples
    held_out = root = None
    if reserved:
        indices = np.arange(len(dataset.test) - reserved, len(dataset.test))
        held_out = dataset.test.subset(np.setdiff1d(indices, [t.index for t in config.targets]))
    if config.aggregator is not None and config.aggregator.reserved_samples():
        assert held_out is not None  # the rule's reserve is part of ``reserved``
        draw = numpy_rng(config.seed, Stream.SERVER, 0)
        root = held_out.subset(config.aggregator.rule.root_indices(held_out.y.numpy(), draw))
    trigger = getattr(config.attack, "trigger", None)
    attack_test = None if trigger is None else trigger.attack_test_set(validation)
    return Setup(config, dataset, shards, validation, targets, held_out, root, attack_test)


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
    if agent_id not in config.malicious_agents:
        return BenignAgent(agent_id, data, workspace, training, config.seed)
    return config.attack.agent_class(
        agent_id=agent_id,
        data=data,
        model=workspace,
        targets=setup.targets.to(device),
        training=training,
        seed=config.seed,
        aggregation_weight=config.aggregation_weight,
        params=config.attack,
    )


def build_agents(setup: Setup, device: torch.device) -> list[Agent]:
    """The k agents of ``setup`` (benign, and the attacker if there is one), sharing one workspace on ``device``."""
    workspace = build_model(setup.config.model, setup.dataset.num_classes).to(device)
    return [build_agent(setup, i, device, workspace) for i in range(setup.config.num_agents)]


def server_resources(
    setup: Setup, device: torch.device, *, stacked: bool = False, team: ThreadTeam | None = None
) -> ServerResources:
    """What the server works with: its aggregation rule, the model's weight mask and accuracy on its held-out
    data (``stacked`` and ``team``: how it evaluates many candidates, see
    :class:`~fedutils.simulation.evaluator.Evaluator`)."""
    config = setup.config
    model = build_model(config.model, setup.dataset.num_classes).to(device)
    mask = weight_mask(model).to(device)
    rule = config.aggregator or ServerRule()
    context = ServerContext(weight_mask=mask, seed=config.seed)
    server_update = None
    if ServerNeed.SERVER_UPDATE in rule.needs:
        if setup.root is None:
            raise ValueError(f"{rule.name} trains on a root set, but the setup drew none (use prepare(config)).")
        training = LocalTraining(config.local_epochs, config.batch_size, config.learning_rate, config.batch_order)
        workspace = build_model(config.model, setup.dataset.num_classes).to(device)
        trusted = BenignAgent(server_agent_id(config), setup.root.to(device), workspace, training, config.seed)
        server_update = trusted.compute_update
    accuracies = _no_held_out_data
    if setup.held_out is not None:
        checker = Evaluator(model, setup.held_out.to(device), setup.targets.to(device), stacked=stacked, team=team)
        accuracies = checker.accuracies
    return ServerResources(accuracies, rule, mask, context, server_update, rule.needs)


def server_agent_id(config: ExperimentConfig) -> int:
    """The id the server's own training on its root set draws its batch order with: one past the last agent's,
    so its stream is its own."""
    return config.num_agents


def _no_held_out_data(params: torch.Tensor) -> list[float]:
    raise ValueError("the server holds no validation data of its own: only an accuracy check reserves it")
