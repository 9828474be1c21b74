"""fedutils: the library behind *Adversarial Lens*, a PyTorch reproduction of
Bhagoji, Chakraborty, Mittal & Calo, "Analyzing Federated Learning through an
Adversarial Lens" (ICML 2019).

The chapters and the command line (``python -m fedutils``) call this API::

    from fedutils import preset, run_experiment
    result = run_experiment(preset("fast", seed=0))
    result.to_frame()
"""

from fedutils._version import __version__
from fedutils.config import ExperimentConfig
from fedutils.data.targets import Target
from fedutils.errors import ConfigError, DataError, FedutilsError
from fedutils.experiment import prepare, run_experiment
from fedutils.presets import PRESETS, preset
from fedutils.results import ResultCache, RunResult

__all__ = [
    "PRESETS",
    "ConfigError",
    "DataError",
    "ExperimentConfig",
    "FedutilsError",
    "ResultCache",
    "RunResult",
    "Target",
    "__version__",
    "prepare",
    "preset",
    "run_experiment",
]
