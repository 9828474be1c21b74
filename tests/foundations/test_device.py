"""Choosing the device, and how exactly CUDA computes there."""

from __future__ import annotations

import os

import pytest
import torch

from fedutils.device import CUBLAS_DETERMINISTIC_WORKSPACE, _arithmetic_settings, cuda_arithmetic, resolve_device
from fedutils.errors import ConfigError
from fedutils.records import run_kind
from fedutils.run_options import RunOptions


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


def _switches() -> list:
    return [getattr(owner, name) for owner, name, _ in _arithmetic_settings(fast=False)]


@pytest.mark.parametrize("fast", [False, True])
def test_cuda_arithmetic_sets_tf32_and_cudnn_inside_the_block_only(fast, monkeypatch):
    """The switches are torch's process-wide flags, so this runs (and is checked) without a GPU."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = _switches()
    with cuda_arithmetic(torch.device("cuda"), fast=fast):
        assert _switches() == [value for _, _, value in _arithmetic_settings(fast)]
        assert torch.backends.cudnn.deterministic is not fast and torch.backends.cudnn.benchmark is fast
        assert (os.environ.get("CUBLAS_WORKSPACE_CONFIG") == CUBLAS_DETERMINISTIC_WORKSPACE) is not fast
    assert _switches() == before


def test_cuda_arithmetic_changes_nothing_on_other_devices():
    before = _switches()
    with cuda_arithmetic(torch.device("cpu"), fast=True):
        assert _switches() == before


def test_only_a_fast_run_on_cuda_is_cached_apart():
    fast = RunOptions(gpu_arithmetic="fast")
    assert fast.fast_gpu_arithmetic_on(torch.device("cuda:1"))
    assert not fast.fast_gpu_arithmetic_on(torch.device("cpu")) and not fast.fast_gpu_arithmetic_on(torch.device("mps"))
    assert not RunOptions().fast_gpu_arithmetic_on(torch.device("cuda"))
    assert run_kind("simulator") == "simulator" != run_kind("simulator", fast_gpu_arithmetic=True)
    with pytest.raises(ConfigError, match="gpu_arithmetic must be one of reproducible, fast"):
        RunOptions(gpu_arithmetic="tf32")
