"""The one dispatcher: a configuration and run options in, a run's records out (cached).

:func:`run_experiment` is what the command line and the chapters call. It
looks the configuration up in the run cache, and otherwise hands it to the
engine the run options name — the simulator in this process, or Flower — and
stores what comes back. :func:`run_seeds` repeats it over seeds and
:func:`run_many` over a grid of configurations, locally or on Ray
(:mod:`fedutils.grids`). This is the only module that knows every engine::

    from fedutils import RunOptions, preset, run_experiment
    machine = RunOptions(device="auto", executor="auto")
    result = run_experiment(preset("fast", seed=0), machine)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from fedutils.attacks.tailored import require_engine_supports
from fedutils.config import ExperimentConfig
from fedutils.deprecation import warn_renamed
from fedutils.device import resolve_device
from fedutils.errors import ConfigError
from fedutils.grids import Grid, GridName, RayGrid, grid_named
from fedutils.records import RunResult, run_kind
from fedutils.run_options import EngineName, RunOptions
from fedutils.store import ResultCache

__all__ = ["ENGINES", "Engine", "engine", "run_experiment", "run_many", "run_seeds"]

Key = TypeVar("Key")

LEGACY_KEYWORDS = "device=, executor=, engine=, data_root=, download=, cache=, cache_dir=, progress="
"""fedutils 0.2's run keywords, which :class:`RunOptions` replaces."""

Engine = Callable[[ExperimentConfig, RunOptions], RunResult]
"""An engine runs one configuration, never consulting the cache: ``engine(config, options) -> RunResult``."""

ENGINES: dict[EngineName, str] = {
    EngineName.SIMULATOR: "fedutils.simulation.engine:run",
    EngineName.FLOWER: "fedutils.flower.engine:run",
}
"""Engine name → its run function as ``"module:function"`` (Flower's convention for its apps), imported on first
use so that an engine's extra is needed only when it runs."""

ENGINES_THAT_SEE_THE_ROUND = frozenset({EngineName.SIMULATOR})
"""Engines whose attackers may see the round's honest updates (a two-phase round); a Flower client cannot."""

ENGINE_EXTRAS: dict[EngineName, tuple[str, tuple[str, ...]]] = {EngineName.FLOWER: ("flower", ("flwr", "ray"))}
"""Engines that need an extra: the extra's name and the packages it brings."""


def engine(name: EngineName | str) -> Engine:
    """The run function of the engine called ``name``.

    Raises:
        ConfigError: the name is not an engine, or the engine's extra is not installed.
    """
    try:
        choice = EngineName(name)
    except ValueError:
        raise ConfigError(f"engine must be one of {', '.join(e.value for e in EngineName)}; got {name!r}.") from None
    module, _, function = ENGINES[choice].partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except ModuleNotFoundError as error:
        extra, packages = ENGINE_EXTRAS.get(choice, ("", ()))
        if (error.name or "").partition(".")[0] not in packages:
            raise
        raise ConfigError(
            f"engine {choice.value!r} needs the {extra!r} extra, which is not installed ({error.name} is missing); "
            f"install it with: pip install 'fedutils[{extra}]'."
        ) from None


def run_experiment(config: ExperimentConfig, options: RunOptions | None = None, **legacy: Any) -> RunResult:
    """Run (or fetch from the cache) the federated experiment ``config``.

    Args:
        config: what the run computes; with the cache's numerics version it is the cache key.
        options: how and where it runs (:class:`~fedutils.run_options.RunOptions`: device, executor,
            engine, data, cache, progress); none of it changes the records beyond float rounding.
        legacy: fedutils 0.2's keywords (``device=``, ``executor=``, ``engine=``, ``data_root=``,
            ``download=``, ``cache=``, ``cache_dir=``, ``progress=``), which still work, with a warning.

    Raises:
        ConfigError: the device is not available here, the engine's extra is missing, or the attack needs to see
            the round's updates and the engine's attackers cannot.
    """
    options = _run_options(options, legacy, "run_experiment")
    engine_name = EngineName(options.engine)
    require_engine_supports(config.attack, engine_name in ENGINES_THAT_SEE_THE_ROUND, engine_name.value)
    device = resolve_device(options.device)  # an unavailable device is refused before any cache lookup or training
    store = ResultCache(options.cache_dir) if options.cache else None
    if store is not None:
        cached = store.load(config.to_dict(), run_kind(options.engine, options.fast_gpu_arithmetic_on(device)))
        if cached is not None:
            return cached
    result = engine(options.engine)(config, options)
    if store is not None:
        store.save(result)
    return result


def run_seeds(
    config: ExperimentConfig, seeds: Sequence[int], options: RunOptions | None = None, **legacy: Any
) -> list[RunResult]:
    """Run ``config`` once per seed, each run cached on its own."""
    options = _run_options(options, legacy, "run_seeds")
    return [run_experiment(config.replace(seed=seed), options) for seed in seeds]


def run_many(
    configs: Mapping[Key, ExperimentConfig],
    options: RunOptions | None = None,
    *,
    grid: Grid | str = GridName.LOCAL,
    **legacy: Any,
) -> dict[Key, RunResult]:
    """Run every configuration of a grid (attack × defense, a λ sweep, ...), each cached on its own.

    A progress bar counts the runs (each run's own bars are hidden). With the
    default ``grid="local"`` they run one after another in this process; with
    ``grid=RayGrid(...)`` (or ``"ray"``) each run is a Ray task on a local Ray
    cluster or on an existing one, holding the CPU cores and GPU share it needs,
    and the results land in the run cache all the same
    (:mod:`fedutils.grids`). Chapter 7's model-A grid of attacks against robust
    rules, for example, on a cluster of GPU machines::

        run_many(grid, RunOptions(device="cuda"), grid=RayGrid(address="auto"))

    Args:
        configs: any key (a label, or a tuple such as ``(attack, rule)``) → experiment.
        options: how and where each run executes.
        grid: where the runs execute: a :class:`~fedutils.grids.LocalGrid`, a
            :class:`~fedutils.grids.RayGrid`, or one's name with its defaults.
        legacy: fedutils 0.2's keywords (``backend=``, ``address=``, ``cpus_per_run=``,
            ``gpus_per_run=`` and :func:`run_experiment`'s), which still work, with a warning.

    Returns:
        The results under the same keys, in the same order.
    """
    ray_keywords = {name: legacy.pop(name) for name in ("address", "cpus_per_run", "gpus_per_run") if name in legacy}
    backend = legacy.pop("backend", None)
    if backend is not None or ray_keywords:
        warn_renamed("run_many(backend=, address=, cpus_per_run=, gpus_per_run=)", "run_many(..., grid=RayGrid(...))")
        chosen = grid_named(GridName.LOCAL if backend is None else backend)
        if ray_keywords and not isinstance(chosen, RayGrid):
            raise ConfigError(f"{', '.join(ray_keywords)} apply to the ray grid only: pass grid=RayGrid(...).")
        grid = RayGrid(**ray_keywords) if ray_keywords else chosen
    options = _run_options(options, legacy, "run_many")
    return grid_named(grid).run(configs, run_experiment, options)


def _run_options(options: RunOptions | None, legacy: Mapping[str, Any], caller: str) -> RunOptions:
    """``options``, or the run options that fedutils 0.2's keywords describe (with a warning).

    Raises:
        ConfigError: both are given, a keyword is unknown, or ``options`` is not a :class:`RunOptions`.
    """
    if legacy:
        if options is not None:
            raise ConfigError(f"{caller} takes run options or their 0.2 keywords, not both; got {', '.join(legacy)}.")
        warn_renamed(f"{caller}(..., {LEGACY_KEYWORDS})", f"{caller}(..., RunOptions(...))", stacklevel=4)
        return RunOptions.from_keywords(**legacy)
    if options is None:
        return RunOptions()
    if not isinstance(options, RunOptions):
        raise ConfigError(f"{caller}'s run options must be a fedutils.RunOptions, got {options!r}.")
    return options
