"""Shared fixtures: the real Fashion-MNIST (from local files), an isolated run cache, a checked smoke run.

With ``pytest -n N`` (``scripts/test.sh`` runs two workers on two cores) each worker process keeps to
one core of its own and one torch thread, so the workers never oversubscribe the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from support import QUIET

from fedutils import deprecation, preset, run_experiment
from fedutils.attacks import ExplicitBoosting
from fedutils.checks import ServerChecks
from fedutils.data import adult
from fedutils.data.dataset import Dataset
from fedutils.data.fashion_mnist import load_fashion_mnist


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, pin worker N to core N (of those this process may use) and to one torch thread:
    the chapters' kernels and Ray's workers it starts inherit the core, so two workers use two cores."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    index = int(worker.removeprefix("gw"))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", len(cores)))
    if workers <= len(cores):
        share = cores[index::workers]
        os.sched_setaffinity(0, share)
        os.environ["OMP_NUM_THREADS"] = str(len(share))
        torch.set_num_threads(len(share))


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


@pytest.fixture(autouse=True)
def _renamed_names_warn_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each old name warns once per process; every test starts as a fresh process would."""
    monkeypatch.setattr(deprecation, "_warned", set())


@pytest.fixture(scope="session")
def checked_run():
    """Explicit boosting on the smoke preset, observed by both server checks, with round 1–2 updates kept."""
    config = preset("smoke", attack=ExplicitBoosting(), checks=ServerChecks(), keep_updates=(1, 2))
    return run_experiment(config, QUIET)


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
