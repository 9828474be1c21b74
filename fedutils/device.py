"""Choosing the device a run computes on, and how exactly CUDA computes there."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

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


def in_ray_worker(device: torch.device) -> torch.device:
    """The device a Ray worker (a grid's task, a Flower simulation client) uses for ``device``: Ray shows each
    worker only the GPUs it assigned it, so a CUDA index names the driver's GPU, not the worker's: ``cuda:N``
    becomes the worker's own ``cuda``."""
    return torch.device("cuda") if device.type == "cuda" else device


def free_memory(device: torch.device) -> int | None:
    """The bytes a run may still take on ``device``: on CUDA the driver's free memory plus what torch's caching
    allocator holds reserved but unused (``mem_get_info`` counts those blocks as taken), on MPS what Metal
    recommends less what the driver has allocated; ``None`` on a CPU (no planned limit)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return max(0, torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    return None


CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"
"""cuBLAS's workspace setting that makes its reductions deterministic (``CUBLAS_WORKSPACE_CONFIG``)."""


def _arithmetic_settings(fast: bool) -> list[tuple[Any, str, Any]]:
    """(object, attribute, value) of every switch :func:`cuda_arithmetic` sets, in this torch's API."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch 2.9 and later
        precision = "tf32" if fast else "ieee"
        tf32 = [(torch.backends.cuda.matmul, "fp32_precision", precision)]
        tf32.append((torch.backends.cudnn.conv, "fp32_precision", precision))
    else:
        tf32 = [(torch.backends.cuda.matmul, "allow_tf32", fast), (torch.backends.cudnn, "allow_tf32", fast)]
    return [*tf32, (torch.backends.cudnn, "deterministic", not fast), (torch.backends.cudnn, "benchmark", fast)]


@contextlib.contextmanager
def cuda_arithmetic(device: torch.device, *, fast: bool) -> Iterator[None]:
    """How CUDA computes inside the block (restored afterwards); on other devices nothing changes.

    Reproducible (``fast=False``, fedutils' default): no TF32 in matrix
    products and convolutions, cuDNN's deterministic algorithms without
    autotuning, and cuBLAS's deterministic workspace (where the process has not
    set one; it takes effect for cuBLAS handles made afterwards): a run gives
    the same numbers again on the same GPU model and software. Fast: TF32
    (about 1e-3 relative error per product on Ampere and newer GPUs, which
    Adam's normalised steps carry forward) and cuDNN's autotuned algorithms,
    whose choice can differ from run to run.
    """
    if device.type != "cuda":
        yield
        return
    settings = _arithmetic_settings(fast)
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in settings]
    if not fast:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC_WORKSPACE)
    try:
        for owner, name, value in settings:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
