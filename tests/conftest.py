"""Shared fixtures: the real Fashion-MNIST (from local files), an isolated run cache, a checked smoke run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from fedutils import preset, run_experiment
from fedutils.attacks import ExplicitBoosting
from fedutils.checks import ServerChecks
from fedutils.data import adult
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


def adult_folders() -> list[Path]:
    """Where the tests look for the UCI Adult files, in order."""
    folders = [Path(os.environ["FEDUTILS_ADULT"])] if os.environ.get("FEDUTILS_ADULT") else []
    return [*folders, adult.DEFAULT_DOWNLOAD_DIR, Path(__file__).resolve().parents[2] / "shared" / "data" / "adult"]


@pytest.fixture(scope="session")
def adult_copy() -> Path:
    """A folder with the real UCI Adult files (``scripts/setup.sh`` puts them in fedutils' data cache)."""
    for folder in adult_folders():
        if all((folder / f.name).is_file() for f in adult.FILES):
            return folder
    looked = ", ".join(map(str, adult_folders()))
    pytest.skip(f"the UCI Adult files are not on this machine (looked in {looked}; run scripts/setup.sh)")
