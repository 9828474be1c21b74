"""Choosing the device."""

from __future__ import annotations

import pytest
import torch

from fedutils.device import resolve_device
from fedutils.errors import ConfigError


def test_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected


def test_bad_or_missing_devices():
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda, cuda:N or mps; got 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda' is not available on this machine"):
            resolve_device("cuda")
