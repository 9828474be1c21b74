"""Shared fixtures: the real Fashion-MNIST (from local files) and an isolated run cache."""

from __future__ import annotations

import pytest
import torch

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
