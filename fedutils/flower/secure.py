"""Secure aggregation with Flower's SecAgg+: the server learns the agents' average and nothing else.

Under SecAgg+ (Bell et al. 2020, as implemented by Flower) each client
quantises its parameters, adds pairwise masks that cancel in the sum and a
private mask whose seed it secret-shares with a few neighbours, and sends
only that masked vector. The server sums the masked vectors, removes the
masks with the shares the clients return, and passes the *aggregate* to its
strategy: in Flower every client's result then carries the same averaged
parameters. So the server has no single update to inspect, and the checks of
§3.3 (accuracy on held-out data, the distance spread) have nothing to tell
apart — the attacker's boosted update is in the average like any other.

:func:`run_secure_aggregation` runs the paper's federation this way on
Flower's simulation engine, one node per agent, and keeps what the server
saw: each round's masked vectors (summarised) and the parameter vectors its
strategy received, on which it runs the experiment's checks as the simulator
would. Only FedAvg can run under secure aggregation (a robust rule needs the
single updates too), with every agent in every round. Flower's SecAgg+ rounds
each parameter to one of 2**22 levels over [−8, 8] stochastically, with
NumPy's global generator, which each client seeds from the run's streams
(the stream ``Stream.SECURE_QUANTISATION`` of :mod:`fedutils.seeding`, by round and agent):
a run is the simulator's only up to that quantisation, and a rerun gives the
same aggregates. The masks themselves come from fresh key agreements, as
they must, so the masked vectors differ from run to run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from flwr.app import Context, Message
from flwr.client import Client, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import (
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    bytes_to_ndarray,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.common.secure_aggregation.secaggplus_constants import Key as SecAggKey
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid
from flwr.simulation import run_simulation

from fedutils.checks import RoundUpdates
from fedutils.config import ExperimentConfig
from fedutils.deprecation import warn_renamed
from fedutils.device import in_ray_worker, resolve_device
from fedutils.errors import ConfigError
from fedutils.flower.client import agent_id_of, agent_update
from fedutils.flower.engine import flower_logs_quiet, ray_backend
from fedutils.flower.protocol import DEVICE, Task
from fedutils.models import build_model
from fedutils.run_options import DataSource, RunOptions
from fedutils.seeding import Stream, derive_seed
from fedutils.simulation.evaluator import Evaluator
from fedutils.simulation.setup import initial_parameters, prepare, server_resources
from fedutils.store import ResultCache

SHARES = 3
"""Into how many shares each client splits its private mask's seed (itself and two neighbours)."""
RECONSTRUCTION_THRESHOLD = 2
"""How many of those shares the server needs to remove a mask (or recover a dropped client's)."""
CACHE_KIND = "flower-secagg+"
"""The kind of a SecAgg+ run in the run cache (:meth:`fedutils.store.ResultCache.save_entry`)."""
RECEIVED_FILE = "received.pt"
"""The file of a cached SecAgg+ run that holds, per round, the vectors the server's strategy was handed."""


@dataclass(frozen=True)
class MaskedVector:
    """What the server received from one node in SecAgg+'s masked-vector stage, summarised.

    Attributes:
        node_id: the sending node.
        mean, std: of the vector's entries, integers modulo 2**32 (uniform noise: mean ≈ 2.1e9, std ≈ 1.2e9).
        length: entries (the model's parameters, plus one for the weight).
    """

    node_id: int
    mean: float
    std: float
    length: int


@dataclass(frozen=True)
class NodeVerdict:
    """A check's verdict on the vector one node's result carried (the server knows nodes, not agents)."""

    node_id: int
    check: str
    flagged: bool
    statistic: float


@dataclass
class SecureRound:
    """One round as the server saw it under secure aggregation.

    Attributes:
        round: t.
        val_accuracy: of the new global model on the validation set.
        target_confidence: the global model's confidence in the first target's adversarial class.
        masked: what each node sent (:class:`MaskedVector`).
        received: the parameter vectors the server's strategy was handed, one per client, ``(n, P)``.
        received_from: the node each row of ``received`` came with.
        checks: the experiment's checks run on those vectors, as the simulator's server runs them.
    """

    round: int
    val_accuracy: float = float("nan")
    target_confidence: float = float("nan")
    masked: list[MaskedVector] = field(default_factory=list)
    received: np.ndarray | None = None
    received_from: tuple[int, ...] = ()
    checks: tuple[NodeVerdict, ...] = ()

    @property
    def flagged_nodes(self) -> list[int]:
        """The nodes whose vector some check flagged."""
        return sorted({verdict.node_id for verdict in self.checks if verdict.flagged})

    @property
    def distinct_vectors(self) -> int:
        """How many different parameter vectors the strategy was handed (1: only the aggregate): rows equal to
        the bit, counted by their bytes (what ``np.unique(received, axis=0)`` counts, without its sort)."""
        assert self.received is not None
        return len({row.tobytes() for row in np.ascontiguousarray(self.received)})


@dataclass
class SecureAggregationRun:
    """A run under SecAgg+: the configuration and each round as the server saw it.

    Attributes:
        config: the experiment.
        rounds: each round as the server saw it.
        from_cache: whether the run was read from the run cache (kind :data:`CACHE_KIND`) instead of computed.
    """

    config: ExperimentConfig
    rounds: list[SecureRound]
    from_cache: bool = field(default=False, compare=False)

    def to_entry(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run as a cache entry: a JSON payload, and the vectors the server received as one tensor file."""
        payload = {
            "rounds": [
                {
                    "round": r.round,
                    "val_accuracy": r.val_accuracy,
                    "target_confidence": r.target_confidence,
                    "masked": [dataclasses.asdict(m) for m in r.masked],
                    "received_from": list(r.received_from),
                    "checks": [dataclasses.asdict(v) for v in r.checks],
                }
                for r in self.rounds
            ]
        }
        received = {r.round: torch.from_numpy(r.received) for r in self.rounds if r.received is not None}
        return payload, {RECEIVED_FILE: received}

    @classmethod
    def from_entry(
        cls, config: ExperimentConfig, payload: dict[str, Any], tensors: dict[str, Any]
    ) -> SecureAggregationRun:
        """The run a cache entry written by :meth:`to_entry` holds."""
        received = tensors.get(RECEIVED_FILE, {})
        rounds = [
            SecureRound(
                round=r["round"],
                val_accuracy=r["val_accuracy"],
                target_confidence=r["target_confidence"],
                masked=[MaskedVector(**m) for m in r["masked"]],
                received=received[r["round"]].numpy() if r["round"] in received else None,
                received_from=tuple(r["received_from"]),
                checks=tuple(NodeVerdict(**v) for v in r["checks"]),
            )
            for r in payload["rounds"]
        ]
        return cls(config, rounds, from_cache=True)

    def summary(self) -> list[dict[str, Any]]:
        """One row per round: the global model, what the server could see, and what its checks flagged."""
        rows = []
        for r in self.rounds:
            rows.append(
                {
                    "round": r.round,
                    "val_accuracy": r.val_accuracy,
                    "target_confidence": r.target_confidence,
                    "vectors received": 0 if r.received is None else len(r.received),
                    "distinct vectors": r.distinct_vectors,
                    "flagged nodes": r.flagged_nodes,
                }
            )
        return rows


PARAMETER_DTYPE = np.float32
"""The networks' parameter type: SecAgg+ hands back its dequantised parameters as float64, which MPS cannot
hold and in which the server's checks and an attacker's estimate of w_G would run apart from the model's."""


def _parameters_on(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Parameters (or a stack of them) as Flower handed them, in the networks' float32, on ``device``."""
    return torch.from_numpy(np.asarray(array, dtype=PARAMETER_DTYPE)).to(device)


class _AgentClient(NumPyClient):
    """An agent as a classic Flower client: trains from the parameters it is sent and returns w_G + δ_i (SecAgg+
    masks parameters, not updates; the average of w_G + δ_i is w_G plus FedAvg's step with α_i = 1/k)."""

    def __init__(self, context: Context) -> None:
        self.node_context = context

    def fit(self, parameters: list[np.ndarray], config: dict[str, Scalar]) -> tuple[list[np.ndarray], int, dict]:
        task = Task.from_record(config)
        device = resolve_device(str(self.node_context.node_config.get(DEVICE, task.device)))
        global_params = _parameters_on(parameters[0], device)
        update = agent_update(self.node_context, task, global_params)
        agent = agent_id_of(self.node_context)
        # SecAgg+ rounds this client's parameters with NumPy's global generator once fit returns: seeded here from
        # the run's streams, the rounding, and so the aggregate the server unmasks, are the same on every rerun
        np.random.seed(derive_seed(task.config().seed, Stream.SECURE_QUANTISATION, task.round_index, agent) % 2**32)
        return [(global_params + update).cpu().numpy()], 1, {}


def _client(context: Context) -> Client:
    return _AgentClient(context).to_client()


client_app = ClientApp(client_fn=_client, mods=[secaggplus_mod])
"""The clients of a secure-aggregation run: each masks its parameters with SecAgg+ before sending them."""


class _RecordingGrid:
    """The server's grid, passing everything through and keeping, per round, the masked vectors it received."""

    def __init__(self, grid: Grid, rounds: dict[int, SecureRound]) -> None:
        self._grid = grid
        self._rounds = rounds
        self.current_round = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        for reply in replies:
            if reply.has_error() or RECORD_KEY_CONFIGS not in reply.content.config_records:
                continue
            masked = reply.content.config_records[RECORD_KEY_CONFIGS].get(SecAggKey.MASKED_PARAMETERS)
            if masked:
                entries = np.concatenate([bytes_to_ndarray(b).ravel() for b in masked])
                self._rounds[self.current_round].masked.append(
                    MaskedVector(reply.metadata.src_node_id, float(entries.mean()), float(entries.std()), entries.size)
                )
        return replies


class _InspectingFedAvg(FedAvg):
    """FedAvg that keeps what it was handed each round and runs the experiment's checks on it."""

    def __init__(
        self,
        config: ExperimentConfig,
        task: Task,
        rounds: dict[int, SecureRound],
        grid: _RecordingGrid,
        device: torch.device,
    ):
        setup = prepare(config, DataSource(task.data_root or None, task.download))
        self.experiment = config
        self.resources = server_resources(setup, device)
        self.evaluator = Evaluator(
            build_model(config.model, setup.dataset.num_classes).to(device),
            setup.validation.to(device),
            setup.targets.to(device),
        )
        self.rounds = rounds
        self.recording_grid = grid
        self.device = device
        self.global_params = initial_parameters(config, setup.dataset.num_classes)
        k = config.num_agents
        super().__init__(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=k,
            min_evaluate_clients=0,
            min_available_clients=k,
            initial_parameters=ndarrays_to_parameters([self.global_params.numpy()]),
            on_fit_config_fn=lambda r: dict(task.for_round(r).to_record()),
            evaluate_fn=self._evaluate,
        )

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        self.global_params = _parameters_on(parameters_to_ndarrays(parameters)[0], self.device)
        self.rounds[server_round] = SecureRound(server_round)
        self.recording_grid.current_round = server_round
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(
        self, server_round: int, results: list[tuple[ClientProxy, FitRes]], failures: list[Any]
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        received = np.stack([parameters_to_ndarrays(fit.parameters)[0] for _, fit in results])
        seen = self.rounds[server_round]
        seen.received = received
        seen.received_from = tuple(int(proxy.cid) for proxy, _ in results)
        if self.experiment.checks is not None:
            start = self.global_params
            updates = _parameters_on(received, self.device) - start
            weights = torch.full((len(updates),), self.experiment.aggregation_weight, device=self.device)
            inspection = self.experiment.checks.inspect(RoundUpdates(start, updates, weights), self.resources)
            seen.checks = tuple(
                NodeVerdict(node, name, v.flagged, v.statistic)
                for name, verdicts in inspection.verdicts.items()
                for node, v in zip(seen.received_from, verdicts, strict=True)
            )
        return super().aggregate_fit(server_round, results, failures)

    def _evaluate(
        self, server_round: int, parameters: list[np.ndarray], config: dict[str, Scalar]
    ) -> tuple[float, dict[str, Scalar]] | None:
        if server_round == 0:
            return None
        evaluation, outcomes = self.evaluator.evaluate(_parameters_on(parameters[0], self.device))
        seen = self.rounds[server_round]
        seen.val_accuracy, seen.target_confidence = evaluation.accuracy, outcomes[0].confidence
        return evaluation.loss, {}


def run_secure_aggregation(
    config: ExperimentConfig, options: RunOptions | None = None, *, client_cpus: int = 1, **legacy: Any
) -> SecureAggregationRun:
    """Run ``config`` (FedAvg, every agent every round) on Flower's simulation engine under SecAgg+.

    The server's checks, if the configuration has any, run on what the server
    was handed, exactly as the simulator's would: see :class:`SecureRound`.
    ``options`` give the device, the data and the run cache (the engine is Flower's whatever they say): a
    run is cached as any other, under its own kind (:data:`CACHE_KIND`), so a chapter run again reads it
    back. fedutils 0.2's keywords (``device=``, ``data_root=``, ``download=``) still work, with a warning.

    Raises:
        ConfigError: the configuration uses a robust aggregation rule or samples agents.
    """
    if config.aggregator is not None:
        raise ConfigError(
            "secure aggregation hands the server only the sum of the updates, so the aggregator "
            "must be FedAvg (None); a robust rule needs every single update."
        )
    if config.agents_per_round != config.num_agents:
        raise ConfigError("run_secure_aggregation runs every agent every round: participation must be 1.")
    if legacy:
        warn_renamed(
            "run_secure_aggregation(config, device=, data_root=, download=)",
            "run_secure_aggregation(config, RunOptions(...))",
        )
        options = RunOptions.from_keywords(**legacy)
    options = RunOptions() if options is None else options
    if config.dropout:
        raise ConfigError("run_secure_aggregation runs every agent every round: dropout must be 0.")
    torch_device = resolve_device(options.device)
    store = ResultCache(options.cache_dir) if options.cache else None
    if store is not None:
        entry = store.load_entry(config.to_dict(), CACHE_KIND)
        if entry is not None:
            return SecureAggregationRun.from_entry(config, *entry)
    task = Task.for_run(config, in_ray_worker(torch_device), options.data)  # its clients are Ray workers
    rounds: dict[int, SecureRound] = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        recording = _RecordingGrid(grid, rounds)
        strategy = _InspectingFedAvg(config, task, rounds, recording, torch_device)
        legacy = LegacyContext(context, config=ServerConfig(num_rounds=config.max_rounds), strategy=strategy)
        workflow = SecAggPlusWorkflow(num_shares=SHARES, reconstruction_threshold=RECONSTRUCTION_THRESHOLD)
        DefaultWorkflow(fit_workflow=workflow)(recording, legacy)

    with flower_logs_quiet():
        run_simulation(server_app, client_app, config.num_agents, backend_config=ray_backend(torch_device, client_cpus))
    run = SecureAggregationRun(config, [rounds[t] for t in sorted(rounds)])
    if store is not None:
        store.save_entry(config.to_dict(), CACHE_KIND, *run.to_entry())
    return run
