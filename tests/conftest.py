"""Shared fixtures: the real Fashion-MNIST (from local files), an isolated run cache, a checked smoke run."""

from __future__ import annotations

import pytest
import torch

from fedutils import preset, run_experiment
from fedutils.attacks import ExplicitBoosting
from fedutils.checks import ServerChecks
from fedutils.data.dataset import Dataset
from fedutils.data.fashion_mnist import load_fashion_mnist


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the user's run cache from tests."""
    monkeypatch.setenv("FEDUTILS_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def fmnist() -> Dataset:
    """Fashion-MNIST from the local files (never downloaded in tests)."""
    return load_fashion_mnist(download=False)


@pytest.fixture(autouse=True)
def _fixed_torch_seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def checked_run():
    """Explicit boosting on the smoke preset, observed by both server checks, with round 1–2 updates kept."""
    config = preset("smoke", attack=ExplicitBoosting(), checks=ServerChecks(), keep_updates=(1, 2))
    return run_experiment(config, cache=False, progress=False, download=False)
