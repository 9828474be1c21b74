"""Named configurations: the paper's setting, a CPU-friendly one, and a seconds-long one.

* ``paper`` — exactly the paper's Fashion-MNIST setting (SPEC §A, §4): model A,
  10 agents × 6,000 IID samples, E = 5, B = 50, Adam 1e-3, sequential
  batches, stop at 91 % validation accuracy or after T = 40 rounds.
* ``fast`` — the same experiment shape (10 agents, the same split and target,
  FedAvg weights 1/k, fresh Adam 1e-3, B = 50, sequential batches) made
  CPU-friendly with a cheaper CNN and one local epoch; the book's default
  on a CPU.
* ``smoke`` — the ``fast`` shape on a few hundred examples for two rounds,
  for tests.
"""

from __future__ import annotations

from typing import Any

from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError
from fedutils.models import ModelName

PAPER = ExperimentConfig()

FAST = ExperimentConfig(
    model=ModelName.FAST_CNN,
    local_epochs=1,
    stop_accuracy=0.90,
    max_rounds=40,
)

SMOKE = FAST.replace(samples_per_agent=200, validation_samples=500, max_rounds=2, stop_accuracy=None)

PRESETS: dict[str, ExperimentConfig] = {"paper": PAPER, "fast": FAST, "smoke": SMOKE}


def preset(name: str, **changes: Any) -> ExperimentConfig:
    """The named preset, optionally with some options changed.

    Raises:
        ConfigError: the name is not a preset, or a change is invalid.
    """
    try:
        base = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.") from None
    return base.replace(**changes) if changes else base
