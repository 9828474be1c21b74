"""What travels between the Flower server and a client (:mod:`fedutils.flower`).

A round is one ``train`` message per selected agent, carrying w_G^{t−1} and
the task (the experiment as JSON, the round, where the data is and which
device to train on); the client replies with its update δ_i^t. Before the
first round the server asks every node which agent it is (a ``query``
message), since Flower addresses nodes, not agents. Parameters travel as one
flat float32 vector, the layout of :func:`fedutils.models.flatten_parameters`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, RecordDict

from fedutils.config import ExperimentConfig
from fedutils.run_options import DataSource
from fedutils.simulation.execution import drops_out

GLOBAL_MODEL = "global-model"
"""The record holding w_G^{t−1} in a ``train`` message."""
UPDATE = "update"
"""The record holding δ_i^t in a client's reply."""
TASK = "task"
"""The record saying what a ``train`` message asks for (see :class:`Task`)."""
IDENTITY = "identity"
"""The record of a client's reply to the server's ``query``: which agent it is."""
AGENT_ID = "agent-id"
"""In :data:`IDENTITY`: the agent's index, taken from the node's ``partition-id``."""
PARTITION_ID = "partition-id"
"""The node-config key that names a node's agent (Flower's own name for a node's share of the data)."""
DEVICE = "device"
"""A node-config key a SuperNode may set to train on another device than the server asks for."""
DATA_ROOT = "data-root"
FAST_GPU_ARITHMETIC = "fast-gpu-arithmetic"
"""Task key: whether the clients train with fast GPU arithmetic (:class:`Task`)."""
"""A node-config key a SuperNode may set to read its dataset from its own folder."""
AGENT_OFFLINE = 1000
"""The error code of a reply from a node whose agent dropped out of the round (outside Flower's own codes)."""
ATTACKER_MEMORY = "fedutils-attacker-memory"
"""The record of a node's state in which an attacker keeps what it saw in earlier rounds."""


@dataclass(frozen=True)
class Task:
    """What a ``train`` message asks of a client besides the global model.

    Attributes:
        experiment: the experiment, as the JSON of :meth:`ExperimentConfig.to_dict`.
        round_index: t, 1-based.
        device: the device the server asks the agents to train on (a node may override it).
        data_root: where the dataset lives (a node may override it); empty for the loader's default.
        download: whether a client may download a missing dataset.
        fast_gpu_arithmetic: whether a client on CUDA trains with TF32 and cuDNN's autotuning
            (:func:`fedutils.device.cuda_arithmetic`), as the server computes.
    """

    experiment: str
    round_index: int
    device: str
    data_root: str = ""
    download: bool = True
    fast_gpu_arithmetic: bool = False

    @classmethod
    def for_run(
        cls, config: ExperimentConfig, device: torch.device, data: DataSource, *, fast_gpu_arithmetic: bool = False
    ) -> Task:
        """The task of a run (for round 0: :meth:`for_round` sets each round's)."""
        experiment = json.dumps(config.to_dict(), sort_keys=True)
        root = "" if data.root is None else str(data.root)
        return cls(experiment, 0, str(device), root, data.download, fast_gpu_arithmetic)

    def for_round(self, round_index: int) -> Task:
        """The task of round ``round_index``."""
        return dataclasses.replace(self, round_index=round_index)

    def config(self) -> ExperimentConfig:
        """The experiment."""
        return ExperimentConfig.from_dict(json.loads(self.experiment))

    def drops_out(self, agent_id: int) -> bool:
        """Whether agent ``agent_id`` drops out of this round (the experiment's ``dropout``, drawn as the
        simulator draws it: the same on every engine and rerun)."""
        return drops_out(self.config(), self.round_index, agent_id)

    def to_record(self) -> ConfigRecord:
        return ConfigRecord(
            {
                "experiment": self.experiment,
                "round": self.round_index,
                DEVICE: self.device,
                DATA_ROOT: self.data_root,
                "download": self.download,
                FAST_GPU_ARITHMETIC: self.fast_gpu_arithmetic,
            }
        )

    @classmethod
    def from_record(cls, record: ConfigRecord) -> Task:
        return cls(
            str(record["experiment"]),
            int(record["round"]),
            str(record[DEVICE]),
            str(record[DATA_ROOT]),
            bool(record["download"]),
            bool(record.get(FAST_GPU_ARITHMETIC, False)),
        )


def vector_record(vector: torch.Tensor) -> ArrayRecord:
    """A flat parameter vector as a record (moved to the CPU; float32 travels exactly)."""
    return ArrayRecord([vector.detach().cpu().numpy()])


def record_vector(record: ArrayRecord, device: torch.device | str = "cpu") -> torch.Tensor:
    """The flat parameter vector in ``record``, on ``device``."""
    (array,) = record.to_numpy_ndarrays()
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def train_content(global_params: torch.Tensor, task: Task) -> RecordDict:
    """The content of a ``train`` message."""
    return RecordDict({GLOBAL_MODEL: vector_record(global_params), TASK: task.to_record()})
