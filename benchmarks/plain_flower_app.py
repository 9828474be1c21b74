"""FedAvg written as a plain Flower app, the way Flower's PyTorch quickstart writes it (``benchmarks/flower.py``).

A ``ClientApp`` trains the network on its shard through a ``DataLoader``
with a fresh Adam and returns its weights; the ``ServerApp`` runs Flower's
own ``FedAvg`` strategy (weighted by examples: with equal shards, the
paper's 1/k) and evaluates the global model centrally after each round. It
is a module of its own so that Ray's worker processes import it (and keep
its loaded data) rather than unpickle it with every message.
"""

from __future__ import annotations

import functools
import itertools
import time

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedutils.config import ExperimentConfig
from fedutils.flower.engine import flower_logs_quiet, ray_backend
from fedutils.models import build_model, flatten_parameters, load_flat_parameters
from fedutils.run_options import DataSource
from fedutils.simulation.evaluator import Evaluator
from fedutils.simulation.setup import Setup, initial_parameters, prepare


@functools.lru_cache(maxsize=1)
def _setup(config: ExperimentConfig) -> Setup:
    """The experiment's data, loaded once per process (as a Flower app caches its dataset partitions)."""
    return prepare(config, DataSource(download=False))


def plain_flower_app(config: ExperimentConfig, client_cpus: int) -> tuple[list[float], float]:
    """Run ``config`` (FedAvg, no attack) as a plain Flower app: the seconds of each round as the server saw
    them, and the final global model's validation accuracy."""
    client = ClientApp()

    @client.train()
    def train(message: Message, context: Context) -> Message:
        setup = _setup(config)
        shard = setup.agent_data(int(context.node_config["partition-id"]))
        model = build_model(config.model, setup.dataset.num_classes)
        model.load_state_dict(message.content["arrays"].to_torch_state_dict())
        loader = DataLoader(TensorDataset(shard.x, shard.y), batch_size=config.batch_size, shuffle=False)
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        model.train()
        for _ in range(int(config.local_epochs)):
            for images, labels in loader:
                optimiser.zero_grad()
                nn.functional.cross_entropy(model(images), labels).backward()
                optimiser.step()
        content = {"arrays": ArrayRecord(model.state_dict()), "metrics": MetricRecord({"num-examples": len(shard)})}
        return Message(RecordDict(content), reply_to=message)

    finished: list[float] = []
    accuracies: list[float] = []
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        setup = _setup(config)
        model = build_model(config.model, setup.dataset.num_classes)
        load_flat_parameters(model, initial_parameters(config, setup.dataset.num_classes))
        evaluator = Evaluator(build_model(config.model, setup.dataset.num_classes), setup.validation, setup.targets)

        def evaluate(round_index: int, arrays: ArrayRecord) -> MetricRecord:
            model.load_state_dict(arrays.to_torch_state_dict())
            accuracy = evaluator.evaluate(flatten_parameters(model))[0].accuracy
            finished.append(time.perf_counter())
            accuracies.append(accuracy)
            return MetricRecord({"accuracy": accuracy})

        strategy = FedAvg(
            fraction_evaluate=0.0, min_train_nodes=config.num_agents, min_available_nodes=config.num_agents
        )
        strategy.start(grid, ArrayRecord(model.state_dict()), num_rounds=config.max_rounds, evaluate_fn=evaluate)

    with flower_logs_quiet():
        run_simulation(server, client, config.num_agents, backend_config=ray_backend(torch.device("cpu"), client_cpus))
    rounds = [later - earlier for earlier, later in itertools.pairwise(finished)]  # round 0 is the initial model
    return rounds, accuracies[-1]
