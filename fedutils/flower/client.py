"""The Flower ``ClientApp``: each node is one agent of the experiment the server names (:mod:`fedutils.flower`).

A node learns which agent it is from its node config (``partition-id``, set
by Flower's simulation engine or by ``flower-supernode --node-config``), and
builds that agent exactly as the simulator does
(:func:`fedutils.simulation.setup.build_agent`): an honest agent, or the attacker
if the experiment makes this agent the attacker. It then answers ``train``
messages with the agent's update. Agents are built once per process and
experiment; an attacker's memory of earlier rounds (what it needs to estimate
the others' update, §3.2 of the paper) is kept in the node's state, which
Flower carries from round to round whichever process serves the node.
"""

from __future__ import annotations

import functools
import json

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp

from fedutils.agents import Agent
from fedutils.attacks.base import MaliciousAgent
from fedutils.config import ExperimentConfig
from fedutils.device import cuda_arithmetic, resolve_device
from fedutils.errors import ConfigError
from fedutils.flower.protocol import (
    AGENT_ID,
    AGENT_OFFLINE,
    ATTACKER_MEMORY,
    DATA_ROOT,
    DEVICE,
    GLOBAL_MODEL,
    IDENTITY,
    PARTITION_ID,
    TASK,
    UPDATE,
    Task,
    record_vector,
    vector_record,
)
from fedutils.models import build_model
from fedutils.run_options import DataSource
from fedutils.simulation.setup import Setup, build_agent, prepare

app = ClientApp()
"""The ClientApp every Flower node runs: it answers the server's messages as the agent it is."""

OFFLINE_REASON = "the agent dropped out of this round"


def agent_id_of(context: Context) -> int:
    """The agent this node is, from its node config.

    Raises:
        ConfigError: the node config has no integer ``partition-id``.
    """
    value = context.node_config.get(PARTITION_ID)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"a fedutils Flower node needs an integer {PARTITION_ID} in its node config (the agent it is), "
            f"got {value!r}; start it with --node-config '{PARTITION_ID}=0'."
        )
    return value


@app.query()
def identify(message: Message, context: Context) -> Message:
    """Tell the server which agent this node is."""
    return Message(RecordDict({IDENTITY: ConfigRecord({AGENT_ID: agent_id_of(context)})}), reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    """Compute this agent's update δ_i^t from the global model in ``message`` (or drop out of the round, if the
    task's dropout draw says so)."""
    task = Task.from_record(message.content[TASK])
    if task.drops_out(agent_id_of(context)):
        return Message(Error(AGENT_OFFLINE, OFFLINE_REASON), reply_to=message)
    device = resolve_device(str(context.node_config.get(DEVICE, task.device)))
    update = agent_update(context, task, record_vector(message.content[GLOBAL_MODEL], device))
    return Message(RecordDict({UPDATE: vector_record(update)}), reply_to=message)


def agent_update(context: Context, task: Task, global_params: torch.Tensor) -> torch.Tensor:
    """This node's agent's update δ_i^t from ``global_params`` (on the device it trains on), built on first use;
    an attacker's memory of its earlier rounds comes from, and goes back to, the node's state."""
    data_root = str(context.node_config.get(DATA_ROOT, task.data_root))
    agents = _LocalAgents.of(task.experiment, DataSource(data_root or None, task.download), str(global_params.device))
    agent = agents.get(agent_id_of(context))
    if isinstance(agent, MaliciousAgent):
        restore_memory(agent, context)
    with cuda_arithmetic(global_params.device, fast=task.fast_gpu_arithmetic):
        update = agent.compute_update(global_params, task.round_index)
    if isinstance(agent, MaliciousAgent):
        store_memory(agent, context)
    return update


class _LocalAgents:
    """The agents of one experiment that this process has served, sharing one workspace network."""

    def __init__(self, setup: Setup, device: torch.device) -> None:
        self.setup = setup
        self.device = device
        self.workspace = build_model(setup.config.model, setup.dataset.num_classes).to(device)
        self.agents: dict[int, Agent] = {}

    @staticmethod
    @functools.lru_cache(maxsize=2)
    def of(experiment: str, data: DataSource, device: str) -> _LocalAgents:
        """The agents of ``experiment`` (its JSON) in this process; the data is loaded once per experiment."""
        config = ExperimentConfig.from_dict(json.loads(experiment))
        return _LocalAgents(prepare(config, data), torch.device(device))

    def get(self, agent_id: int) -> Agent:
        """Agent ``agent_id``, built on first use."""
        if not 0 <= agent_id < self.setup.config.num_agents:
            raise ConfigError(
                f"{PARTITION_ID} must name an agent of the experiment, 0 … {self.setup.config.num_agents - 1}; "
                f"got {agent_id}."
            )
        if agent_id not in self.agents:
            self.agents[agent_id] = build_agent(self.setup, agent_id, self.device, self.workspace)
        return self.agents[agent_id]


def restore_memory(agent: MaliciousAgent, context: Context) -> None:
    """Give the attacker back what it remembered at the end of its previous round (nothing in its first)."""
    record = context.state.get(ATTACKER_MEMORY)
    memory = record.to_torch_state_dict() if isinstance(record, ArrayRecord) else {}
    agent.tracker.load_state_dict({name: tensor.to(agent.data.x.device) for name, tensor in memory.items()})


def store_memory(agent: MaliciousAgent, context: Context) -> None:
    """Keep what the attacker remembers in the node's state, for its next round."""
    memory = agent.tracker.state_dict()
    if memory:
        context.state[ATTACKER_MEMORY] = ArrayRecord({name: tensor.cpu() for name, tensor in memory.items()})
