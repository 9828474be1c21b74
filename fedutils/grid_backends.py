"""Where a grid's runs execute: one after another in this process, or spread over a Ray cluster.

:func:`~fedutils.experiment.run_many` takes a ``backend``:

* ``local`` runs the grid's configurations one after another in this process
  (each run spreads its own agents over the cores, see :mod:`fedutils.execution`).
* ``ray`` hands them to :func:`run_on_ray`: one Ray task per run, on a local
  Ray cluster started for the grid or on an existing one (``address=``), each
  task holding the CPU cores and the share of a GPU it needs. The results land
  in the run cache as local runs do, so a grid finished on a cluster is read
  back anywhere the cache folder is.

Ray is an extra (``pip install 'fedutils[flower]'``), imported only when the
``ray`` backend is asked for.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any, TypeVar

import torch

from fedutils.config import ExperimentConfig
from fedutils.device import AUTO, resolve_device
from fedutils.errors import ConfigError
from fedutils.execution import ExecutorName
from fedutils.options import Choice, require_non_negative, require_positive_int
from fedutils.progress import progress_bar
from fedutils.results import ResultCache, RunResult

Key = TypeVar("Key")


class GridBackend(Choice):
    """Where a grid's runs execute (see the module docstring)."""

    LOCAL = "local"
    RAY = "ray"


RAY_PACKAGE = "ray"
"""The package the ``ray`` backend needs (installed by the ``flower`` extra)."""

INSTALL_HINT = "pip install 'fedutils[flower]'"
"""How to install what the ``ray`` backend needs."""

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

# run_experiment's options that run_on_ray reads or sets
DEVICE_OPTION = "device"
EXECUTOR_OPTION = "executor"
ENGINE_OPTION = "engine"
CACHE_OPTION = "cache"
CACHE_DIR_OPTION = "cache_dir"
PROGRESS_OPTION = "progress"

SIMULATOR_ENGINE = "simulator"
"""The only engine a Ray task runs (:class:`fedutils.experiment.EngineName`): Flower's engine starts Ray itself."""


def grid_backend(name: str | GridBackend) -> GridBackend:
    """The backend called ``name``.

    Raises:
        ConfigError: the name is not a backend.
    """
    try:
        return GridBackend(name)
    except ValueError:
        allowed = ", ".join(b.value for b in GridBackend)
        raise ConfigError(f"backend must be one of {allowed}; got {name!r}.") from None


def run_on_ray(
    configs: Mapping[Key, ExperimentConfig],
    *,
    address: str | None = None,
    cpus_per_run: int | None = None,
    gpus_per_run: float | None = None,
    **options: Any,
) -> dict[Key, RunResult]:
    """Run every configuration of a grid as its own Ray task; each finished run is stored in the run cache.

    Configurations already in the cache are read from it here, in the calling
    process, and start no task: running a finished grid again starts no cluster.
    The others are submitted at once, one task each, and Ray runs as many at a
    time as the cluster's resources allow; a progress bar counts the finished
    runs. A local cluster started here is shut down at the end; one that was
    running already (``ray.init`` called before, or ``address=``) is left as it was.

    Args:
        configs: any key (a label, or a tuple such as ``(attack, rule)``) → experiment.
        address: the Ray cluster to use (``"auto"``, ``"ray://host:10001"``, ...);
            ``None`` starts a local one on this machine's cores. If Ray is
            initialised already, its cluster is used whatever ``address`` says.
            On a cluster of several machines the cache folder (``cache_dir`` or
            ``$FEDUTILS_CACHE``, read here and passed to every task) must be
            shared storage for the results to come back through it.
        cpus_per_run: CPU cores each task holds (default 1); the task's torch uses
            as many intra-op threads.
        gpus_per_run: the share of a GPU each task holds. By default 0 for a run
            on the CPU; for a run on CUDA (``device="cuda"``, or ``"auto"`` on a
            cluster with GPUs) the cluster's GPUs divided by the runs its CPUs can
            hold at once (``GPUs × cpus_per_run / CPUs``, at most 1), so that the
            runs the CPUs allow share the GPUs evenly — the rule Flower's clients
            follow in :mod:`fedutils.flower.simulation`. A task without a GPU share
            and ``device="auto"`` runs on the CPU. The GPU path cannot be tested on
            the CPU-only machines the tests run on.
        options: as for :func:`~fedutils.experiment.run_experiment`, passed to every
            task. Without ``executor``, a run on the CPU is ``sequential``: ``auto``
            would pick ``parallel`` over every core of the machine, not the task's
            share, and the tasks would oversubscribe the cores. ``progress`` is
            ignored (a task's own bars cannot be shown from a worker).

    Returns:
        The results under the same keys, in the same order.

    Raises:
        ConfigError: Ray is not installed, an option is invalid, or ``engine='flower'``
            is asked for (Flower's engine starts its own Ray cluster for each run).
    """
    ray = _import_ray()
    cpus = DEFAULT_CPUS_PER_RUN if cpus_per_run is None else cpus_per_run
    require_positive_int(cpus, "cpus_per_run")
    if gpus_per_run is not None:
        require_non_negative(gpus_per_run, "gpus_per_run")
    task_options = _task_options(options)

    results: dict[Key, RunResult] = {}
    if task_options.get(CACHE_OPTION, True):
        store = ResultCache(task_options.get(CACHE_DIR_OPTION))
        # workers may not share this process's environment, nor its working directory
        task_options[CACHE_DIR_OPTION] = str(store.directory.resolve())
        for key, config in configs.items():
            cached = store.load(config.to_dict())
            if cached is not None:
                results[key] = cached
    missing = {key: config for key, config in configs.items() if key not in results}
    if not missing:
        return {key: results[key] for key in configs}

    started = not ray.is_initialized()
    if started:
        _start_ray(ray, address)
    try:
        resources = ray.cluster_resources()
        if started and address is None:
            _check_fits(resources, cpus, gpus_per_run)
        gpus = gpus_per_run if gpus_per_run is not None else _gpu_share(task_options, resources, cpus)
        if gpus == 0 and str(task_options.get(DEVICE_OPTION, AUTO)) == AUTO:
            task_options[DEVICE_OPTION] = CPU  # a task without a GPU share must not pick up a GPU Ray leaves visible
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus)(_run_task)
        pending = {remote.remote(config, cpus, task_options): key for key, config in missing.items()}
        with progress_bar(total=len(configs), initial=len(results), desc="runs", unit="run") as bar:
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


def _import_ray() -> Any:
    """The ``ray`` module, imported only when the ``ray`` backend is asked for.

    Raises:
        ConfigError: Ray is not installed.
    """
    try:
        import ray
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != RAY_PACKAGE:
            raise
        raise ConfigError(
            f"backend 'ray' needs Ray, which is not installed ({error.name} is missing); "
            f"install it with: {INSTALL_HINT}."
        ) from None
    return ray


def _task_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked against :func:`~fedutils.experiment.run_experiment` here, before any task starts
    (a mistake would otherwise surface once per task, in the workers).

    Raises:
        ConfigError: ``engine='flower'``, which cannot run inside a Ray task.
        TypeError: an option that :func:`~fedutils.experiment.run_experiment` does not take.
    """
    from fedutils.experiment import run_experiment

    chosen = {name: value for name, value in options.items() if name != PROGRESS_OPTION}
    inspect.signature(run_experiment).bind(None, **chosen)
    engine = chosen.get(ENGINE_OPTION, SIMULATOR_ENGINE)
    if str(engine) != SIMULATOR_ENGINE:
        raise ConfigError(
            f"engine {str(engine)!r} cannot run inside a Ray task (Flower's engine starts its own Ray cluster); "
            f"with backend 'ray' leave engine at {SIMULATOR_ENGINE!r}."
        )
    return chosen


def _start_ray(ray: Any, address: str | None) -> None:
    """Connect to the cluster at ``address``, or start a local one (no dashboard, workers' output not relayed:
    the progress bar says what happens)."""
    with warnings.catch_warnings():
        # Ray's notice that it will stop hiding GPUs from tasks without a GPU share: such tasks run on the CPU
        # here whatever Ray does (see run_on_ray)
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


def _gpu_share(options: Mapping[str, Any], resources: Mapping[str, float], cpus: int) -> float:
    """The default share of a GPU per run (see :func:`run_on_ray`): 0 on the CPU, else the cluster's GPUs spread
    evenly over the runs its CPUs hold at once.

    Raises:
        ConfigError: the runs are asked to use CUDA on a cluster without GPUs.
    """
    device = options.get(DEVICE_OPTION, AUTO)
    total_gpus = resources.get(GPU_RESOURCE, 0)
    if str(device) == AUTO:
        wants_gpu = total_gpus > 0
    else:
        wants_gpu = torch.device(device).type == CUDA
        if wants_gpu and total_gpus == 0:
            raise ConfigError(f"device {str(device)!r} needs a GPU but the Ray cluster has none; use auto or cpu.")
    if not wants_gpu:
        return 0.0
    total_cpus = resources.get(CPU_RESOURCE, cpus)
    return min(1.0, total_gpus * cpus / total_cpus)


def _run_task(config: ExperimentConfig, cpus: int, options: dict[str, Any]) -> RunResult:
    """One grid run inside a Ray worker: torch on the task's ``cpus`` cores, the executor chosen for that share,
    the result stored in the cache folder named in ``options``."""
    from fedutils.experiment import run_experiment

    torch.set_num_threads(cpus)
    chosen = dict(options)
    if EXECUTOR_OPTION not in chosen and resolve_device(chosen.get(DEVICE_OPTION, AUTO)).type == CPU:
        chosen[EXECUTOR_OPTION] = ExecutorName.SEQUENTIAL
    return run_experiment(config, progress=False, **chosen)
