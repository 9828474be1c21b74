"""The Flower engine: an experiment on Flower's simulation engine in this process (``--engine flower``).

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
from typing import Any

import torch
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp
from flwr.simulation import run_simulation

from fedutils.config import ExperimentConfig
from fedutils.device import in_ray_worker, resolve_device
from fedutils.errors import ConfigError
from fedutils.flower.client import app as client_app
from fedutils.flower.server import serve
from fedutils.parallel import available_cores
from fedutils.records import RunResult
from fedutils.run_options import EngineName, RunOptions

FLOWER_LOGGER = "flwr"


def run(config: ExperimentConfig, options: RunOptions | None = None, *, client_cpus: int = 1) -> RunResult:
    """Run ``config`` on Flower's simulation engine (Ray backend), one virtual node per agent.

    What :func:`fedutils.runner.run_experiment` calls with ``RunOptions(engine="flower")``. The
    experiment's ``dropout`` is drawn by the nodes (a node whose agent drops out answers
    "offline"); the result's ``transcript`` holds, per round, one
    :class:`~fedutils.records.Reply` per reply the server got.

    Args:
        config: the experiment.
        options: the device (where the server evaluates and the clients train; on a GPU the
            clients share it, each taking ``1/actors`` of it), the data and progress bars.
        client_cpus: CPU cores per client; Ray runs as many clients at once as
            the cores allow (one per core by default, each torch with one thread).

    Returns:
        The same records as the simulator's run of ``config``.
    """
    options = RunOptions(engine=EngineName.FLOWER) if options is None else options
    device = resolve_device(options.device)
    outcome: dict[str, RunResult] = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        outcome["result"] = serve(
            grid,
            config,
            device=device,
            data=options.data,
            progress=options.progress,
            fast_gpu_arithmetic=options.fast_gpu_arithmetic_on(device),
            client_device=in_ray_worker(device),
        )

    with flower_logs_quiet():
        backend = ray_backend(device, client_cpus)
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
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0  # the clients spread over every GPU
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
