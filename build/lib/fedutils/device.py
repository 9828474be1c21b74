"""Choosing the device a run computes on."""

from __future__ import annotations

import torch

from fedutils.errors import ConfigError

AUTO = "auto"


def resolve_device(name: str | torch.device = AUTO) -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; other names must be usable here.

    Raises:
        ConfigError: the name is not a device, or that device is not available.
    """
    if str(name) == AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {name!r}.") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise ConfigError(f"device {name!r} is not available on this machine; use auto or cpu.")
    return device
