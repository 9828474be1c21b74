"""run_many's backends: a grid's runs on a local Ray cluster match the runs made here, and land in the run cache."""

from __future__ import annotations

import sys

import pytest
import torch

from fedutils import ConfigError, ExperimentConfig, preset
from fedutils.experiment import run_experiment, run_many
from fedutils.grid_backends import GridBackend
from fedutils.parallel import one_intra_op_thread

ray = pytest.importorskip("ray")

SEEDS = (0, 1)


def _grid() -> dict[int, ExperimentConfig]:
    return {seed: preset("smoke", max_rounds=2, seed=seed) for seed in SEEDS}


def test_two_smoke_runs_on_a_local_ray_cluster_match_local_runs_and_land_in_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = _grid()
    initialised = ray.is_initialized()  # another test may have left a cluster running: then the grid uses it
    on_ray = run_many(grid, backend=GridBackend.RAY, download=False)
    assert list(on_ray) == list(grid)
    assert ray.is_initialized() == initialised  # a cluster started for the grid is shut down after it
    for seed, config in grid.items():
        # a Ray task's torch uses one intra-op thread (one CPU per run); with the same here, the sums run in the same
        # order and the records are equal to the last bit (with this process's two threads they differed by up to
        # 4e-8), and the reference does not slow down tenfold beside other processes (see fedutils.parallel)
        with one_intra_op_thread():
            here = run_experiment(config, executor="sequential", cache=False, progress=False, download=False)
        remote = on_ray[seed]
        assert not remote.from_cache
        assert remote.config == config.to_dict()
        assert [r.round for r in remote.records] == [r.round for r in here.records]
        assert [r.val_accuracy for r in remote.records] == [r.val_accuracy for r in here.records]
        assert [r.target_confidence for r in remote.records] == [r.target_confidence for r in here.records]
        assert torch.equal(remote.final_params, here.final_params)  # the final model travels back from the worker

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished grid must be served from the run cache without starting Ray")

    monkeypatch.setattr(ray, "init", no_cluster)
    again = run_many(grid, backend="ray", download=False)
    assert list(again) == list(grid)
    assert all(result.from_cache for result in again.values())
    assert ray.is_initialized() == initialised
    for seed in SEEDS:
        assert again[seed].records == on_ray[seed].records


def test_an_unknown_backend_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="backend must be one of local, ray; got 'dask'"):
        run_many(_grid(), backend="dask", download=False)


def test_an_address_without_the_ray_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match="address applies to backend 'ray' only"):
        run_many(_grid(), address="auto", download=False)


def test_the_flower_engine_is_refused_inside_ray_tasks_before_any_cluster_starts() -> None:
    initialised = ray.is_initialized()
    with pytest.raises(ConfigError, match="engine 'flower' cannot run inside a Ray task"):
        run_many(_grid(), backend="ray", engine="flower", download=False)
    assert ray.is_initialized() == initialised


def test_without_ray_the_ray_backend_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` now fails as if it were not installed
    with pytest.raises(ConfigError, match=r"backend 'ray' needs Ray.*pip install 'fedutils\[flower\]'"):
        run_many(_grid(), backend="ray", download=False)
