"""Where a grid's runs execute: one after another in this process, or spread over a Ray cluster.

A grid is many configurations (attack × defense, a λ sweep, seeds); a
:class:`Grid` runs each with the run function it is handed — the dispatcher's
:func:`fedutils.runner.run_experiment`, which caches each run — and never
imports the dispatcher itself:

* :class:`LocalGrid` runs them one after another in this process (each run
  spreads its own agents over the cores, see :mod:`fedutils.simulation.execution`).
* :class:`RayGrid` makes each run a Ray task, on a local Ray cluster started
  for the grid or on an existing one (``address``), each task holding the CPU
  cores and the share of a GPU it needs. The results land in the run cache as
  local runs do, so a grid finished on a cluster is read back anywhere the
  cache folder is.

Ray is an extra (``pip install 'fedutils[flower]'``), imported only when a
:class:`RayGrid` runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import torch

from fedutils.config import ExperimentConfig
from fedutils.device import in_ray_worker, resolve_device
from fedutils.errors import ConfigError
from fedutils.options import Choice, require_non_negative, require_positive_int
from fedutils.progress import progress_bar
from fedutils.records import RunResult
from fedutils.run_options import AUTO_DEVICE, EngineName, ExecutorName, RunOptions
from fedutils.store import ResultCache

Key = TypeVar("Key")

RunOne = Callable[[ExperimentConfig, RunOptions], RunResult]
"""How a grid runs one configuration (the dispatcher's :func:`~fedutils.runner.run_experiment`)."""


class GridName(Choice):
    """Where a grid's runs execute (see the module docstring)."""

    LOCAL = "local"
    RAY = "ray"


RAY_PACKAGE = "ray"
"""The package :class:`RayGrid` needs (installed by the ``flower`` extra)."""

INSTALL_HINT = "pip install 'fedutils[flower]'"
"""How to install what :class:`RayGrid` needs."""

DEFAULT_CPUS_PER_RUN = 1
"""CPU cores one run holds by default: the book's small networks gain little from a second core within one run,
so a grid is fastest with one run per core."""

CPU_RESOURCE = "CPU"
GPU_RESOURCE = "GPU"
"""Ray's names for a cluster's CPU cores and GPUs (:func:`ray.cluster_resources`)."""

CUDA = "cuda"
"""The device type whose runs hold a share of a GPU."""

CPU = "cpu"
"""The device type whose runs train with the ``sequential`` executor unless told otherwise."""


class Grid(Protocol):
    """Runs every configuration of a grid with ``run_one``; the results under the same keys, in the same order."""

    def run(
        self, configs: Mapping[Key, ExperimentConfig], run_one: RunOne, options: RunOptions
    ) -> dict[Key, RunResult]: ...


@dataclass(frozen=True)
class LocalGrid:
    """The grid's runs one after another in this process; a progress bar counts them (each run's own bars
    are hidden)."""

    def run(
        self, configs: Mapping[Key, ExperimentConfig], run_one: RunOne, options: RunOptions
    ) -> dict[Key, RunResult]:
        quiet = options.replace(progress=False)
        runs = progress_bar(configs.items(), desc="runs", unit="run", total=len(configs), disable=not options.progress)
        return {key: run_one(config, quiet) for key, config in runs}


@dataclass(frozen=True)
class RayGrid:
    """Each of the grid's runs a Ray task; every finished run is stored in the run cache.

    Configurations already in the cache are read from it here, in the calling
    process, and start no task: running a finished grid again starts no cluster.
    The others are submitted at once, one task each, and Ray runs as many at a
    time as the cluster's resources allow; a progress bar counts the finished
    runs. A local cluster started here is shut down at the end; one that was
    running already (``ray.init`` called before, or ``address``) is left as it was.

    Attributes:
        address: the Ray cluster to use (``"auto"``, ``"ray://host:10001"``, ...);
            ``None`` starts a local one on this machine's cores. If Ray is
            initialised already, its cluster is used whatever ``address`` says.
            On a cluster of several machines the cache folder (``cache_dir`` of
            the run options, or ``$FEDUTILS_CACHE``, read here and passed to every
            task) must be shared storage for the results to come back through it.
        cpus_per_run: CPU cores each task holds (default 1); the task's torch uses
            as many intra-op threads.
        gpus_per_run: the share of a GPU each task holds. By default 0 for a run
            on the CPU; for a run on CUDA (``device="cuda"``, or ``"auto"`` on a
            cluster with GPUs) the cluster's GPUs divided by the runs its CPUs can
            hold at once (``GPUs × cpus_per_run / CPUs``, at most 1), so that the
            runs the CPUs allow share the GPUs evenly — the rule Flower's clients
            follow in :mod:`fedutils.flower.engine`. A task without a GPU share
            and ``device="auto"`` runs on the CPU. The GPU path cannot be tested on
            the CPU-only machines the tests run on.

    The run options go to every task. With ``executor="auto"``, a run on the CPU
    is ``sequential``: ``auto`` would pick ``parallel`` over every core of the
    machine, not the task's share, and the tasks would oversubscribe the cores.
    A task's own progress bars cannot be shown from a worker.
    """

    address: str | None = None
    cpus_per_run: int = DEFAULT_CPUS_PER_RUN
    gpus_per_run: float | None = None

    def __post_init__(self) -> None:
        require_positive_int(self.cpus_per_run, "cpus_per_run")
        if self.gpus_per_run is not None:
            require_non_negative(self.gpus_per_run, "gpus_per_run")

    def run(
        self, configs: Mapping[Key, ExperimentConfig], run_one: RunOne, options: RunOptions
    ) -> dict[Key, RunResult]:
        """Run the grid on Ray (see the class docstring).

        Raises:
            ConfigError: Ray is not installed, a task could never fit the cluster, or ``engine='flower'``
                is asked for (Flower's engine starts its own Ray cluster for each run).
        """
        ray = _import_ray()
        if options.engine is not EngineName.SIMULATOR:
            raise ConfigError(
                f"engine {options.engine.value!r} cannot run inside a Ray task (Flower's engine starts its own Ray "
                f"cluster); with a Ray grid leave engine at {EngineName.SIMULATOR.value!r}."
            )
        task_options = options.replace(progress=False)
        results: dict[Key, RunResult] = {}
        if options.cache:
            store = ResultCache(options.cache_dir)
            # workers may not share this process's environment, nor its working directory
            task_options = task_options.replace(cache_dir=store.directory.resolve())
            for key, config in configs.items():
                cached = store.load(config.to_dict())
                if cached is not None:
                    results[key] = cached
        missing = {key: config for key, config in configs.items() if key not in results}
        if not missing:
            return {key: results[key] for key in configs}

        started = not ray.is_initialized()
        if started:
            _start_ray(ray, self.address)
        try:
            resources = ray.cluster_resources()
            if started and self.address is None:
                _check_fits(resources, self.cpus_per_run, self.gpus_per_run)
            gpus = self.gpus_per_run if self.gpus_per_run is not None else _gpu_share(options, resources, self)
            if gpus == 0 and options.device == AUTO_DEVICE:
                # a task without a GPU share must not pick up a GPU Ray leaves visible
                task_options = task_options.replace(device=CPU)
            elif 0 < gpus < 1:  # runs sharing a GPU each plan their stacked training for their share of it
                task_options = task_options.replace(gpu_memory_share=gpus)
            remote = ray.remote(num_cpus=self.cpus_per_run, num_gpus=gpus)(_run_task)
            pending = {
                remote.remote(config, self.cpus_per_run, task_options, run_one): key for key, config in missing.items()
            }
            with progress_bar(
                total=len(configs), initial=len(results), desc="runs", unit="run", disable=not options.progress
            ) as bar:
                waiting = list(pending)
                while waiting:
                    done, waiting = ray.wait(waiting, num_returns=1)
                    for ref in done:
                        results[pending[ref]] = ray.get(ref)
                    bar.update(len(done))
        finally:
            if started:
                ray.shutdown()
        return {key: results[key] for key in configs}


GRIDS: dict[GridName, type[Grid]] = {GridName.LOCAL: LocalGrid, GridName.RAY: RayGrid}
"""Grid name → its class (built with its defaults when a grid is named by string)."""


def grid_named(grid: str | Grid) -> Grid:
    """``grid`` itself, or the grid called ``grid`` with its defaults.

    Raises:
        ConfigError: the name is not a grid.
    """
    if not isinstance(grid, str):
        return grid
    try:
        return GRIDS[GridName(grid)]()
    except ValueError:
        allowed = ", ".join(name.value for name in GridName)
        raise ConfigError(f"grid must be one of {allowed}; got {grid!r}.") from None


def _import_ray() -> Any:
    """The ``ray`` module, imported only when a Ray grid runs.

    Raises:
        ConfigError: Ray is not installed.
    """
    try:
        import ray
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != RAY_PACKAGE:
            raise
        raise ConfigError(
            f"a Ray grid needs Ray, which is not installed ({error.name} is missing); install it with: {INSTALL_HINT}."
        ) from None
    return ray


def _start_ray(ray: Any, address: str | None) -> None:
    """Connect to the cluster at ``address``, or start a local one (no dashboard, workers' output not relayed:
    the progress bar says what happens)."""
    with warnings.catch_warnings():
        # Ray's notice that it will stop hiding GPUs from tasks without a GPU share: such tasks run on the CPU
        # here whatever Ray does (see RayGrid)
        warnings.filterwarnings("ignore", category=FutureWarning, module=RAY_PACKAGE)
        if address is None:
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)


def _check_fits(resources: Mapping[str, float], cpus: int, gpus: float | None) -> None:
    """Refuse tasks a local cluster could never run (Ray would wait for them forever).

    Raises:
        ConfigError: ``cpus`` or ``gpus`` exceeds what the cluster has.
    """
    total_cpus = int(resources.get(CPU_RESOURCE, 0))
    if cpus > total_cpus:
        raise ConfigError(f"cpus_per_run must be at most the {total_cpus} CPU cores of the Ray cluster; got {cpus}.")
    total_gpus = resources.get(GPU_RESOURCE, 0)
    if gpus is not None and gpus > total_gpus:
        raise ConfigError(f"gpus_per_run must be at most the {total_gpus:g} GPUs of the Ray cluster; got {gpus}.")


def _gpu_share(options: RunOptions, resources: Mapping[str, float], grid: RayGrid) -> float:
    """The default share of a GPU per run (see :class:`RayGrid`): 0 on the CPU, else the cluster's GPUs spread
    evenly over the runs its CPUs hold at once.

    Raises:
        ConfigError: the runs are asked to use CUDA on a cluster without GPUs.
    """
    total_gpus = resources.get(GPU_RESOURCE, 0)
    if options.device == AUTO_DEVICE:
        wants_gpu = total_gpus > 0
    else:
        wants_gpu = torch.device(options.device).type == CUDA
        if wants_gpu and total_gpus == 0:
            raise ConfigError(f"device {options.device!r} needs a GPU but the Ray cluster has none; use auto or cpu.")
    if not wants_gpu:
        return 0.0
    total_cpus = resources.get(CPU_RESOURCE, grid.cpus_per_run)
    return min(1.0, total_gpus * grid.cpus_per_run / total_cpus)


def _run_task(config: ExperimentConfig, cpus: int, options: RunOptions, run_one: RunOne) -> RunResult:
    """One grid run inside a Ray worker: torch on the task's ``cpus`` cores, the executor chosen for that share,
    the result stored in the cache folder named in ``options``."""
    torch.set_num_threads(cpus)
    if options.device != AUTO_DEVICE:
        options = options.replace(device=str(in_ray_worker(torch.device(options.device))))
    if options.executor is ExecutorName.AUTO and resolve_device(options.device).type == CPU:
        options = options.replace(executor=ExecutorName.SEQUENTIAL)
    return run_one(config, options)
