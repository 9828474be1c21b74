"""Grids: a grid's runs on a local Ray cluster match the runs made here, and land in the run cache."""

from __future__ import annotations

import sys

import pytest
import torch
from support import CACHED, QUIET, STARTS_RAY

from fedutils import ConfigError, ExperimentConfig, preset
from fedutils.deprecation import RenamedWarning
from fedutils.grids import LocalGrid, RayGrid, grid_named
from fedutils.parallel import one_intra_op_thread
from fedutils.runner import run_experiment, run_many

pytestmark = [pytest.mark.slow, STARTS_RAY]  # a grid on a local Ray cluster

ray = pytest.importorskip("ray")

SEEDS = (0, 1)


def _grid() -> dict[int, ExperimentConfig]:
    return {seed: preset("smoke", max_rounds=2, seed=seed) for seed in SEEDS}


def test_two_smoke_runs_on_a_local_ray_cluster_match_local_runs_and_land_in_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = _grid()
    initialised = ray.is_initialized()  # another test may have left a cluster running: then the grid uses it
    on_ray = run_many(grid, CACHED, grid=RayGrid())
    assert list(on_ray) == list(grid)
    assert ray.is_initialized() == initialised  # a cluster started for the grid is shut down after it
    for seed, config in grid.items():
        # a Ray task's torch uses one intra-op thread (one CPU per run); with the same here, the sums run in the same
        # order and the records are equal to the last bit (with this process's two threads they differed by up to
        # 4e-8), and the reference does not slow down tenfold beside other processes (see fedutils.parallel)
        with one_intra_op_thread():
            here = run_experiment(config, QUIET.replace(executor="sequential"))
        remote = on_ray[seed]
        assert not remote.from_cache
        assert remote.config == config
        assert [r.round for r in remote.records] == [r.round for r in here.records]
        assert [r.val_accuracy for r in remote.records] == [r.val_accuracy for r in here.records]
        assert [r.target_confidence for r in remote.records] == [r.target_confidence for r in here.records]
        assert torch.equal(remote.final_params, here.final_params)  # the final model travels back from the worker

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished grid must be served from the run cache without starting Ray")

    monkeypatch.setattr(ray, "init", no_cluster)
    again = run_many(grid, CACHED, grid="ray")
    assert list(again) == list(grid)
    assert all(result.from_cache for result in again.values())
    assert ray.is_initialized() == initialised
    for seed in SEEDS:
        assert again[seed].records == on_ray[seed].records


def test_an_unknown_grid_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="grid must be one of local, ray; got 'dask'"):
        run_many(_grid(), CACHED, grid="dask")
    assert isinstance(grid_named("local"), LocalGrid) and grid_named(RayGrid(cpus_per_run=2)).cpus_per_run == 2
    with pytest.raises(ConfigError, match="cpus_per_run must be an integer of at least 1"):
        RayGrid(cpus_per_run=0)


def test_the_old_keywords_still_choose_the_grid_with_a_warning() -> None:
    with pytest.warns(RenamedWarning, match="run_many"):
        with pytest.raises(ConfigError, match="address apply to the ray grid only"):
            run_many(_grid(), address="auto", download=False)


def test_the_flower_engine_is_refused_inside_ray_tasks_before_any_cluster_starts() -> None:
    initialised = ray.is_initialized()
    with pytest.raises(ConfigError, match="engine 'flower' cannot run inside a Ray task"):
        run_many(_grid(), CACHED.replace(engine="flower"), grid=RayGrid())
    assert ray.is_initialized() == initialised


def test_without_ray_the_ray_grid_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` now fails as if it were not installed
    with pytest.raises(ConfigError, match=r"a Ray grid needs Ray.*pip install 'fedutils\[flower\]'"):
        run_many(_grid(), CACHED, grid=RayGrid())
