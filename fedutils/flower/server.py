"""The Flower ``ServerApp``: fedutils' round loop, with the agents' updates computed by Flower nodes.

The server is the simulator's (:func:`fedutils.simulation.engine.federate`): it
selects the round's agents, runs the checks of §3.3 and the aggregation rule,
evaluates and records exactly as in-process. Only the execution layer
differs: a :class:`FlowerExecutor` sends w_G^{t−1} to the selected agents'
nodes and collects their updates (:mod:`fedutils.simulation.execution`). So the records,
``RunResult``, the plots and the command line's JSON are the same whichever
engine ran the federation.

:func:`serve` is that loop for a given experiment. :data:`app` is the
``ServerApp`` of a real deployment (``flwr run``; see
``scripts/flower_deployment.py``), which reads its experiment from the run
config.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from flwr.app import Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from fedutils.agents import Agent
from fedutils.attacks.tailored import require_engine_supports
from fedutils.config import ExperimentConfig
from fedutils.deprecation import moved_names
from fedutils.device import cuda_arithmetic, resolve_device
from fedutils.errors import ConfigError, FedutilsError
from fedutils.flower.protocol import AGENT_ID, AGENT_OFFLINE, IDENTITY, UPDATE, Task, record_vector, train_content
from fedutils.records import Reply, RunResult
from fedutils.run_options import DataSource, EngineName
from fedutils.simulation.engine import federate
from fedutils.simulation.execution import AgentsDropped
from fedutils.simulation.setup import prepare

NODE_WAIT_SECONDS = 120.0
"""How long the server waits for one node per agent to connect before giving up."""

EXPERIMENT_FILE = "experiment-file"
"""Run-config key of a deployment: the experiment, a JSON file of :meth:`ExperimentConfig.to_dict`."""
RESULT_FILE = "result-file"
"""Run-config key of a deployment: where the server writes the run's records (:meth:`RunResult.save`)."""
DEVICE = "device"
"""Run-config key of a deployment: the device the server evaluates on and asks the agents to train on."""
DATA_ROOT = "data-root"
"""Run-config key of a deployment: where the server's dataset lives (empty: the loader's default)."""
DOWNLOAD = "download"
"""Run-config key of a deployment: whether the server and the clients may download a missing dataset."""


__getattr__ = moved_names(__name__, {"Received": "fedutils.records:Reply"})
"""fedutils 0.2's ``Received`` is :class:`fedutils.records.Reply` now (it works, with a warning, until 0.4)."""


class FlowerEngineError(FedutilsError):
    """The Flower federation could not run a round: missing nodes, or a client that failed."""


class RemoteAgent:
    """The server's view of an agent whose updates a Flower node computes: its id, and (for scoring only, as in
    the simulator's records) whether the experiment made it the attacker."""

    def __init__(self, agent_id: int, is_malicious: bool) -> None:
        self.agent_id = agent_id
        self.is_malicious = is_malicious

    def compute_update(self, global_params: torch.Tensor, round_index: int) -> torch.Tensor:
        raise RuntimeError("a remote agent's update is computed by its Flower node: use a FlowerExecutor")


class FlowerExecutor:
    """Computes a round's updates on the selected agents' Flower nodes (the execution layer's Flower backend).

    A node that answers "offline" (its agent dropped out) or, with
    ``reply_timeout``, does not answer in time sends no update: the round goes
    on without it (:class:`~fedutils.simulation.execution.AgentsDropped`). A node that
    fails any other way stops the run.

    Args:
        grid: the ServerApp's grid.
        node_of_agent: for each agent id, the id of the node that is that agent.
        task: the round-independent part of every ``train`` message (its round is set per round).
        reply_timeout: seconds to wait for a round's updates; ``None`` waits for every selected agent.

    Attributes:
        received: per round, what the server was sent: one :class:`~fedutils.records.Reply` per reply.
    """

    stacked_evaluation = False
    team = None

    def __init__(
        self, grid: Grid, node_of_agent: Mapping[int, int], task: Task, reply_timeout: float | None = None
    ) -> None:
        self.grid = grid
        self.node_of_agent = dict(node_of_agent)
        self.agent_of_node = {node: agent for agent, node in self.node_of_agent.items()}
        self.task = task
        self.reply_timeout = reply_timeout
        self.received: dict[int, list[Reply]] = {}

    def running(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def updates(
        self, agents: Sequence[Agent], global_params: torch.Tensor, round_index: int, *, progress: bool = False
    ) -> torch.Tensor:
        content = train_content(global_params, self.task.for_round(round_index))
        messages = [
            Message(content, self.node_of_agent[agent.agent_id], MessageType.TRAIN, group_id=str(round_index))
            for agent in agents
        ]
        updates: dict[int, torch.Tensor] = {}
        self.received[round_index] = []
        for reply in self.grid.send_and_receive(messages, timeout=self.reply_timeout):
            node = reply.metadata.src_node_id
            agent_id = self.agent_of_node[node]
            if reply.has_error() and reply.error.code != AGENT_OFFLINE:
                raise FlowerEngineError(
                    f"agent {agent_id}'s Flower client failed in round {round_index}: {reply.error.reason}"
                )
            content_sizes = {} if reply.has_error() else {k: r.count_bytes() for k, r in reply.content.items()}
            self.received[round_index].append(Reply(node, agent_id, reply.has_error(), content_sizes))
            if not reply.has_error():
                updates[agent_id] = record_vector(reply.content[UPDATE], global_params.device)
        answered = [position for position, agent in enumerate(agents) if agent.agent_id in updates]
        rows = [updates[agents[position].agent_id] for position in answered]
        stacked = torch.stack(rows) if rows else global_params.new_zeros(0, len(global_params))
        if len(answered) < len(agents):
            raise AgentsDropped(answered, stacked)
        return stacked


def agent_nodes(grid: Grid, num_agents: int, *, wait_seconds: float = NODE_WAIT_SECONDS) -> dict[int, int]:
    """Wait for one node per agent, ask each which agent it is, and map agent ids to node ids.

    Raises:
        FlowerEngineError: fewer nodes than agents connected in time, or the nodes do not name agents
            ``0 … num_agents − 1`` once each.
    """
    deadline = time.monotonic() + wait_seconds
    nodes = list(grid.get_node_ids())
    while len(nodes) < num_agents:
        if time.monotonic() > deadline:
            raise FlowerEngineError(
                f"only {len(nodes)} of {num_agents} Flower nodes connected within {wait_seconds:g} s; "
                "start one SuperNode per agent."
            )
        time.sleep(0.1)
        nodes = list(grid.get_node_ids())
    queries = [Message(RecordDict(), node, MessageType.QUERY) for node in nodes]
    node_of_agent: dict[int, int] = {}
    for reply in grid.send_and_receive(queries):
        if reply.has_error():
            raise FlowerEngineError(f"Flower node {reply.metadata.src_node_id} failed: {reply.error.reason}")
        node_of_agent.setdefault(int(reply.content[IDENTITY][AGENT_ID]), reply.metadata.src_node_id)
    if sorted(node_of_agent) != list(range(num_agents)) or len(nodes) != num_agents:
        raise FlowerEngineError(
            f"the {len(nodes)} Flower nodes are agents {sorted(node_of_agent)}; the experiment needs exactly one "
            f"node for each of agents 0 … {num_agents - 1}."
        )
    return node_of_agent


def serve(
    grid: Grid,
    config: ExperimentConfig,
    *,
    device: torch.device | str = "cpu",
    data: DataSource | None = None,
    reply_timeout: float | None = None,
    progress: bool = True,
    fast_gpu_arithmetic: bool = False,
    client_device: torch.device | None = None,
) -> RunResult:
    """Run the experiment ``config`` from a ServerApp: fedutils' server, the agents on the grid's nodes.

    The nodes draw the experiment's dropouts themselves (their agent answers "offline"), as the simulator draws
    them; the result's ``transcript`` holds, per round, what the server was sent (:attr:`FlowerExecutor.received`).

    Args:
        device: where the server evaluates, and where it asks the agents to train.
        data: where the server's (and, unless a node says otherwise, the clients') dataset lives.
        reply_timeout: seconds to wait for a round's updates before going on without the missing ones.
        progress: show the round loop's progress bar.
        fast_gpu_arithmetic: on CUDA, compute (and ask the agents to train) with TF32 and cuDNN's autotuning.
        client_device: the device to ask the agents to train on, where it is not the server's (on Flower's
            simulation engine a client is a Ray worker, whose one visible GPU is ``cuda``).
    """
    torch_device = resolve_device(device)
    source = DataSource() if data is None else data
    require_engine_supports(config.attack, sees_round=False, engine="flower")
    setup = prepare(config, source)
    node_of_agent = agent_nodes(grid, config.num_agents)
    fast = fast_gpu_arithmetic and torch_device.type == "cuda"
    asked = torch_device if client_device is None else client_device
    task = Task.for_run(config, asked, source, fast_gpu_arithmetic=fast)
    agents = [RemoteAgent(i, i == config.malicious_agent) for i in range(config.num_agents)]
    execution = FlowerExecutor(grid, node_of_agent, task, reply_timeout)
    with cuda_arithmetic(torch_device, fast=fast):
        result = federate(setup, agents, torch_device, execution, progress=progress)
    result.engine = EngineName.FLOWER
    result.fast_gpu_arithmetic = fast
    result.transcript = execution.received
    return result


app = ServerApp()
"""The ServerApp of a real deployment (``flwr run``), which reads its experiment from the run config."""


@app.main()
def main(grid: Grid, context: Context) -> None:
    """A deployment's server: the experiment from the run config's ``experiment-file``, the records to its
    ``result-file``."""
    settings = context.run_config
    for key in (EXPERIMENT_FILE, RESULT_FILE):
        if not settings.get(key):
            raise ConfigError(f"the fedutils ServerApp needs {key} in its run config (--run-config '{key}=\"...\"').")
    config = ExperimentConfig.from_dict(json.loads(Path(str(settings[EXPERIMENT_FILE])).read_text()))
    data = DataSource(str(settings.get(DATA_ROOT, "")) or None, bool(settings.get(DOWNLOAD, True)))
    result = serve(grid, config, device=str(settings.get(DEVICE, "cpu")), data=data, progress=False)
    result.save(str(settings[RESULT_FILE]))
