"""fedutils: the library behind *Adversarial Lens*, a PyTorch reproduction of
Bhagoji, Chakraborty, Mittal & Calo, "Analyzing Federated Learning through an
Adversarial Lens" (ICML 2019).

What a run computes is an :class:`ExperimentConfig` (start from a preset); how
and where it runs is a :class:`RunOptions`; :func:`run_experiment` runs it (or
reads it from the run cache) and returns its records::

    from fedutils import RunOptions, preset, rounds_frame, run_experiment
    result = run_experiment(preset("fast", seed=0), RunOptions(executor="auto"))
    rounds_frame(result)  # one row per round

The house is in layers, each importing only those below it (``pyproject.toml``'s
import contracts): foundations (:mod:`~fedutils.errors`, :mod:`~fedutils.options`,
:mod:`~fedutils.run_options`, seeding, device, threads, progress); one model's
data, networks and training; the paper's components (:mod:`~fedutils.agents`,
:mod:`~fedutils.attacks`, :mod:`~fedutils.checks`, :mod:`~fedutils.aggregators`);
what a run is (:mod:`~fedutils.config`, :mod:`~fedutils.presets`,
:mod:`~fedutils.records`, :mod:`~fedutils.store`); the simulator
(:mod:`~fedutils.simulation`); other engines and grids (:mod:`~fedutils.flower`,
:mod:`~fedutils.grids`); the dispatcher (:mod:`~fedutils.runner`) beside the
analysis of finished runs (:mod:`~fedutils.analysis`); and the front ends
(:mod:`~fedutils.cli`, and ``fedutils.book``, the book's own code, which nothing
else imports).
"""

from fedutils import _compat
from fedutils._version import __version__
from fedutils.analysis import agents_frame, checks_frame, malicious_frame, rounds_frame, targets_frame
from fedutils.config import ExperimentConfig
from fedutils.data.targets import Target
from fedutils.errors import ConfigError, DataError, FedutilsError
from fedutils.grids import LocalGrid, RayGrid
from fedutils.presets import PRESETS, preset
from fedutils.records import RunResult
from fedutils.run_options import DataSource, RunOptions
from fedutils.runner import run_experiment, run_many, run_seeds
from fedutils.simulation.setup import prepare
from fedutils.store import ResultCache

_compat.install()

__all__ = [
    "PRESETS",
    "ConfigError",
    "DataError",
    "DataSource",
    "ExperimentConfig",
    "FedutilsError",
    "LocalGrid",
    "RayGrid",
    "ResultCache",
    "RunOptions",
    "RunResult",
    "Target",
    "__version__",
    "agents_frame",
    "checks_frame",
    "malicious_frame",
    "prepare",
    "preset",
    "rounds_frame",
    "run_experiment",
    "run_many",
    "run_seeds",
    "targets_frame",
]
