"""How and where a run executes — what changes its speed, not its numbers (one switch excepted).

An :class:`~fedutils.config.ExperimentConfig` says *what* a run computes and
is its cache key; a :class:`RunOptions` says *how and where*: the device, the
executor that trains a round's agents, the engine that runs the federation,
where the data lives, whether the run cache is used, whether progress bars
show, and how much of a GPU it may plan for. The exception is
``gpu_arithmetic="fast"`` on CUDA, which trades reproducible numbers for
speed: such a run is cached and marked apart. The split is d2l's (the hardware belongs to the ``Trainer``, never to
the model or the data). Every engine, grid and chapter takes one value::

    machine = RunOptions(device="cuda", executor="batched")
    run_experiment(config, machine)
    run_many(grid, machine.replace(progress=False))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fedutils.errors import ConfigError
from fedutils.options import Choice, normalise_fields, replace_options, require_share

AUTO_DEVICE = "auto"
"""The device name that picks CUDA, then Apple's MPS, then the CPU (:func:`fedutils.device.resolve_device`)."""


class ExecutorName(Choice):
    """How a round's local training runs (:mod:`fedutils.simulation.execution`)."""

    AUTO = "auto"
    SEQUENTIAL = "sequential"
    BATCHED = "batched"
    PARALLEL = "parallel"


class GpuArithmetic(Choice):
    """How exactly CUDA computes (:func:`fedutils.device.cuda_arithmetic`); nothing changes on a CPU or MPS."""

    REPRODUCIBLE = "reproducible"
    FAST = "fast"


class EngineName(Choice):
    """What runs a federation: fedutils' own round loop in this process, or Flower's simulation engine
    (:mod:`fedutils.flower`, the ``flower`` extra)."""

    SIMULATOR = "simulator"
    FLOWER = "flower"


@dataclass(frozen=True)
class DataSource:
    """Where a run's dataset comes from.

    Attributes:
        root: the folder with the dataset's files; ``None`` lets each loader look in its usual places
            (``$FEDUTILS_DATA``, Debian's package, fedutils' data cache; see :mod:`fedutils.data`).
        download: whether a missing dataset may be downloaded.
    """

    root: Path | None = None
    download: bool = True

    def __post_init__(self) -> None:
        if self.root is not None:
            if not isinstance(self.root, (str, Path)):
                raise ConfigError(f"data root must be a folder path or None, got {self.root!r}.")
            object.__setattr__(self, "root", Path(self.root).expanduser())
        if not isinstance(self.download, bool):
            raise ConfigError(f"download must be True or False, got {self.download!r}.")


@dataclass(frozen=True)
class RunOptions:
    """How and where a run executes; none of it is part of the configuration, and only the engine and a fast
    GPU arithmetic are part of the cache key.

    Attributes:
        device: ``"auto"`` (CUDA, then MPS, then the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        executor: how each round's local training runs: ``"auto"`` (the honest agents stacked as one
            model on a GPU, spread over the cores of a CPU), ``"sequential"``, ``"parallel"`` or
            ``"batched"``; all give the same records up to float rounding.
        engine: what runs the federation: ``"simulator"`` (fedutils' round loop in this process) or
            ``"flower"`` (Flower's simulation engine, each agent a Flower client; ``pip install
            'fedutils[flower]'``). The same records either way; each engine's runs are cached apart, since a
            Flower run also keeps what its server was sent.
        data: where the dataset lives (:class:`DataSource`).
        cache: reuse a finished run with the same configuration, and store this one.
        cache_dir: the run cache's folder; ``None`` means ``$FEDUTILS_CACHE``, else
            ``~/.cache/fedutils/runs``.
        progress: show progress bars.
        gpu_arithmetic: on CUDA, ``"reproducible"`` (default: no TF32, cuDNN's deterministic algorithms; the
            same numbers again on the same GPU) or ``"fast"`` (TF32 and cuDNN's autotuning: faster on Ampere
            and newer GPUs, about 1e-3 relative error per product, and not the same numbers twice). The one
            option that changes numbers: a fast run on CUDA is cached under its own key and says so in its
            records (:attr:`~fedutils.records.RunResult.fast_gpu_arithmetic`). No effect elsewhere.
        gpu_memory_share: the fraction of the GPU's free memory this run may plan its stacked training for
            (default 1; runs sharing one GPU at once each take their part: ``record_runs --jobs``, a Ray
            grid's ``gpus_per_run``). Changes how many agents train as one model, never the numbers.
    """

    device: str = AUTO_DEVICE
    executor: ExecutorName = ExecutorName.AUTO
    engine: EngineName = EngineName.SIMULATOR
    data: DataSource = field(default_factory=DataSource)
    cache: bool = True
    cache_dir: Path | None = None
    progress: bool = True
    gpu_arithmetic: GpuArithmetic = GpuArithmetic.REPRODUCIBLE
    gpu_memory_share: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.device, torch.device):
            object.__setattr__(self, "device", str(self.device))
        if not isinstance(self.device, str):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {self.device!r}.")
        if self.device != AUTO_DEVICE:
            try:
                torch.device(self.device)
            except RuntimeError:
                raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {self.device!r}.") from None
        normalise_fields(self)
        if not isinstance(self.data, DataSource):
            raise ConfigError(f"data must be a fedutils.DataSource (root, download), got {self.data!r}.")
        require_share(self.gpu_memory_share, "gpu_memory_share")
        for name in ("cache", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, (str, Path)):
                raise ConfigError(f"cache_dir must be a folder path or None, got {self.cache_dir!r}.")
            object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        if self.engine is EngineName.FLOWER and self.executor is not ExecutorName.AUTO:
            raise ConfigError(
                f"executor {self.executor.value!r} applies to the simulator engine only: with engine 'flower' "
                "each Flower client trains its own agent, so leave executor at 'auto'."
            )

    def fast_gpu_arithmetic_on(self, device: torch.device) -> bool:
        """Whether a run on ``device`` computes with fast GPU arithmetic (asked for, and ``device`` is CUDA)."""
        return self.gpu_arithmetic is GpuArithmetic.FAST and device.type == "cuda"

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, "the run options")

    @classmethod
    def from_keywords(cls, **keywords: Any) -> RunOptions:
        """Run options from the keyword names of fedutils 0.2 (``data_root``, ``download``, ``device``,
        ``executor``, ``engine``, ``cache``, ``cache_dir``, ``progress``).

        Raises:
            ConfigError: a keyword that is none of these.
        """
        names = {f.name for f in dataclasses.fields(cls)} - {"data"}
        unknown = sorted(set(keywords) - names - {"data_root", "download"})
        if unknown:
            allowed = ", ".join(sorted(names | {"data_root", "download"}))
            raise ConfigError(f"unknown run option(s) {', '.join(unknown)}; allowed: {allowed}.")
        values = {name: keywords[name] for name in names if name in keywords}
        if "data_root" in keywords or "download" in keywords:
            values["data"] = DataSource(keywords.get("data_root"), keywords.get("download", True))
        return cls(**values)
