"""Shared fixtures: the real Fashion-MNIST (from local files), an isolated run cache, a checked smoke run.

With ``pytest -n N`` (``scripts/test.sh`` runs one worker per core) each worker process
uses one torch thread, so the workers never oversubscribe the machine's cores with threads.
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
    """Under pytest-xdist, give each worker one torch thread; with no more workers than cores, pin worker
    N to its own cores too (the chapters' kernels and the Ray workers it starts inherit them). With more
    workers than cores the system schedules them, so a worker waiting on a kernel leaves its core to another."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", len(cores) or 1))
    threads = 1
    if cores and workers <= len(cores):
        share = cores[int(worker.removeprefix("gw")) :: workers]
        os.sched_setaffinity(0, share)
        threads = len(share)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


LONG_RUNNING = ("book", "slow")
"""Markers of the tests that take tens of seconds: their groups are handed out to the workers first."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``), the tests of a module with module-scoped fixtures (trained
    runs, a Flower deployment) are one group, so that its fixtures are built once, not once per worker.

    The groups holding a long test (a chapter, Ray and Flower, the claims) come first, in the reverse of
    their collection order (Ray and Flower, then Chapter 11 down to Chapter 1), and the short tests after:
    the workers share out the long ones while both are busy, and the short ones fill the end, so that no
    worker waits long for the other to finish."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _uses_module_fixtures(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    long_groups = {_group(item) for item in items if any(item.get_closest_marker(m) for m in LONG_RUNNING)}
    order = {
        group: rank for rank, group in enumerate(dict.fromkeys(_group(i) for i in items if _group(i) in long_groups))
    }
    items.sort(key=lambda item: -order[_group(item)] if _group(item) in long_groups else 1)


def _group(item: pytest.Item) -> str:
    """The unit pytest-xdist's loadgroup hands to one worker: the item's group, else the item itself."""
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return item.nodeid
    return marker.args[0] if marker.args else marker.kwargs.get("name", item.nodeid)


def _uses_module_fixtures(item: pytest.Item) -> bool:
    definitions = getattr(item, "_fixtureinfo", None)
    if definitions is None:
        return False
    return any(d.scope == "module" for defs in definitions.name2fixturedefs.values() for d in defs)


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
