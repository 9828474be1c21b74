"""Run an experiment on Flower's simulation engine in this process (``--engine flower``).

Flower's simulation engine runs the ``ServerApp`` in a thread of this process
and each node's ``ClientApp`` in a pool of Ray actors (worker processes), one
virtual node per agent. The server is fedutils' own
(:func:`fedutils.flower.server.serve`), so the run's records are the
simulator's, computed through Flower.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp
from flwr.simulation import run_simulation

from fedutils.config import ExperimentConfig
from fedutils.device import resolve_device
from fedutils.errors import ConfigError
from fedutils.flower.client import app as client_app
from fedutils.flower.server import Received, serve
from fedutils.parallel import available_cores
from fedutils.results import RunResult

FLOWER_LOGGER = "flwr"


def run_on_flower(
    config: ExperimentConfig,
    *,
    data_root: str | Path | None = None,
    download: bool = True,
    device: torch.device | str = "cpu",
    client_cpus: int = 1,
    dropout: float = 0.0,
    received: dict[int, list[Received]] | None = None,
    progress: bool = True,
) -> RunResult:
    """Run ``config`` on Flower's simulation engine (Ray backend), one virtual node per agent.

    Args:
        config: the experiment.
        data_root: where the dataset lives, for the server and every client.
        download: allow downloading a missing dataset.
        device: where the server evaluates and the clients train. On a GPU the
            clients share it: each takes ``1/actors`` of it.
        client_cpus: CPU cores per client; Ray runs as many clients at once as
            the cores allow (one per core by default, each torch with one thread).
        dropout: the chance that a selected agent drops out of a round (its
            node answers "offline"; drawn per round and agent from the run's
            seeded dropout stream); the round goes on without its update.
        received: if given, filled with what the server was sent in each round
            (:class:`~fedutils.flower.server.Received`: node, agent, offline, bytes).
        progress: show the round loop's progress bar.

    Returns:
        The same records as ``run_experiment(config)`` on the simulator.
    """
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"dropout must be a probability from 0 up to (not including) 1; got {dropout!r}.")
    torch_device = resolve_device(device)
    outcome: dict[str, RunResult] = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        outcome["result"] = serve(
            grid,
            config,
            data_root=data_root,
            download=download,
            device=torch_device,
            dropout=dropout,
            received=received,
            progress=progress,
        )

    with flower_logs_quiet():
        backend = ray_backend(torch_device, client_cpus)
        run_simulation(server_app, client_app, num_supernodes=config.num_agents, backend_config=backend)
    return outcome["result"]


def ray_backend(device: torch.device, client_cpus: int) -> dict[str, Any]:
    """Flower's Ray backend settings: ``client_cpus`` cores per client, as many clients at once as the cores
    allow, and on a GPU an equal share of it for each of them; no dashboard, workers' logs not echoed.

    Raises:
        ConfigError: ``client_cpus`` is not a whole number of the cores available.
    """
    cores = available_cores()
    if isinstance(client_cpus, bool) or not isinstance(client_cpus, int) or not 1 <= client_cpus <= cores:
        raise ConfigError(f"client_cpus must be an integer from 1 to the {cores} cores available; got {client_cpus!r}.")
    gpus = 1 if device.type == "cuda" else 0
    return {
        "client_resources": {"num_cpus": client_cpus, "num_gpus": gpus / (cores // client_cpus)},
        "init_args": {"num_cpus": cores, "num_gpus": gpus, "include_dashboard": False, "log_to_driver": False},
    }


@contextmanager
def flower_logs_quiet() -> Iterator[None]:
    """Flower's INFO lines (and its notice that ``run_simulation`` will be replaced by ``flwr run``) hidden:
    the round loop's own progress bar says what happens."""
    logger = logging.getLogger(FLOWER_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
