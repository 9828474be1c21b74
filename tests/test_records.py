"""Per-round records, their tables and JSON, and the run cache."""

from __future__ import annotations

import json

import pytest
import torch
from support import CACHED, QUIET

from fedutils.analysis import agents_frame, malicious_frame, rounds_frame, targets_frame
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError
from fedutils.models import build_model, flatten_parameters
from fedutils.presets import preset
from fedutils.records import AgentRecord, RoundRecord, RunResult
from fedutils.runner import run_experiment
from fedutils.store import ResultCache, config_hash
from fedutils.training import TargetOutcome

REQUIRED_KEYS = {"round", "val_accuracy", "val_loss", "target_confidence", "target_predicted"}


def _result(config: ExperimentConfig) -> RunResult:
    targets = (TargetOutcome(5454, 5, 7, 0.25, 5, 0.7), TargetOutcome(1, 2, 3, 0.9, 3, 0.9))
    agents = (AgentRecord(0, False, 1.5, 0.8), AgentRecord(1, True, 9.0, None))
    records = [RoundRecord(t, 0.5 + t / 10, 1.0 / t, targets, agents, 2.0) for t in (1, 2)]
    return RunResult(config.to_dict(), records, torch.arange(5.0))


def test_primary_target_fields_and_hits():
    record = _result(ExperimentConfig()).records[0]
    assert (record.target_confidence, record.target_predicted, record.target_predicted_confidence) == (0.25, 5, 0.7)
    assert record.targets_hit == 1


def test_frames_and_json(tmp_path):
    result = _result(ExperimentConfig())
    frame = rounds_frame(result)
    assert list(frame.index) == [1, 2] and REQUIRED_KEYS - {"round"} <= set(frame.columns)
    assert len(agents_frame(result)) == 4 and len(targets_frame(result)) == 4
    assert result.rounds_to_accuracy(0.65) == 2 and result.rounds_to_accuracy(0.99) is None
    assert result.seconds == 4.0
    summary = result.summary()
    assert (summary.rounds, summary.rounds_to_stop, summary.seconds_per_round) == (2, None, 2.0)
    path = tmp_path / "out.json"
    result.write_json(path)
    rows = json.loads(path.read_text())
    assert [r["round"] for r in rows] == [1, 2] and all(REQUIRED_KEYS <= set(r) for r in rows)
    assert [RoundRecord.from_dict(r) for r in rows] == result.records


def test_cache_round_trip_and_misses(tmp_path):
    cache = ResultCache(tmp_path)
    config = ExperimentConfig(seed=4)
    assert cache.load(config.to_dict()) is None
    result = _result(config)
    folder = cache.save(result)
    assert folder.parent == tmp_path
    loaded = cache.load(config.to_dict())
    assert loaded.from_cache and loaded.records == result.records
    assert torch.equal(loaded.final_params, result.final_params)
    assert cache.load(config.replace(seed=5).to_dict()) is None
    (folder / "result.json").write_text("{not json")
    assert cache.load(config.to_dict()) is None


def test_cache_key_ignores_int_versus_float_spelling():
    assert config_hash(ExperimentConfig(local_epochs=1).to_dict()) == config_hash(
        ExperimentConfig(local_epochs=1.0).to_dict()
    )
    assert config_hash(ExperimentConfig().to_dict()) != config_hash(ExperimentConfig(seed=1).to_dict())


def test_run_experiment_reuses_the_cache(tmp_path):
    config = preset("smoke", max_rounds=1)
    first = run_experiment(config, CACHED.replace(cache_dir=tmp_path))
    second = run_experiment(config, CACHED.replace(cache_dir=tmp_path))
    assert not first.from_cache and second.from_cache
    assert second.records == first.records and torch.equal(second.final_params, first.final_params)
    uncached = run_experiment(config, QUIET)
    assert not uncached.from_cache


def test_default_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDUTILS_CACHE", str(tmp_path / "here"))
    assert ResultCache().directory == tmp_path / "here"


@pytest.mark.parametrize("field", ["records", "config"])
def test_cache_rejects_a_result_for_another_config(tmp_path, field):
    cache = ResultCache(tmp_path)
    config = ExperimentConfig()
    folder = cache.save(_result(config))
    stored = json.loads((folder / "result.json").read_text())
    if field == "config":
        stored["config"]["seed"] = 99
        (folder / "result.json").write_text(json.dumps(stored))
        assert cache.load(config.to_dict()) is None
    else:
        assert cache.load(config.to_dict()) is not None


def test_malicious_frame_and_rounds_to_confidence():
    result = _result(ExperimentConfig())
    frame = malicious_frame(result)
    assert list(frame.index) == [1, 2]
    assert frame.loc[1, "malicious_update_norm"] == 9.0 and frame.loc[1, "benign_mean_val_accuracy"] == 0.8
    assert result.rounds_to_confidence(0.2) == 1 and result.rounds_to_confidence(0.5) is None


def test_kept_updates_split_into_benign_and_malicious_and_survive_the_cache(tmp_path):
    config = ExperimentConfig(keep_updates=(2,), max_rounds=2)
    result = _result(config)
    result.updates = {2: torch.tensor([[1.0, 2.0], [30.0, 40.0]])}
    benign, malicious = result.benign_and_malicious_updates(2)
    assert torch.equal(benign, torch.tensor([[1.0, 2.0]])) and torch.equal(malicious, torch.tensor([30.0, 40.0]))
    with pytest.raises(ConfigError, match="round 1's updates were not kept"):
        result.benign_and_malicious_updates(1)
    cache = ResultCache(tmp_path)
    folder = cache.save(result)
    assert torch.equal(cache.load(config.to_dict()).updates[2], result.updates[2])
    (folder / "updates.pt").unlink()
    assert cache.load(config.to_dict()) is None  # a run that should keep updates but lost them is recomputed


def test_global_model_is_rebuilt_from_the_final_parameters():
    params = flatten_parameters(build_model("fast_cnn")) + 0.5
    model = RunResult({"model": "fast_cnn"}, [], params).global_model()
    assert torch.equal(flatten_parameters(model), params) and not model.training
    with pytest.raises(ConfigError, match="kept no final parameters"):
        RunResult({"model": "fast_cnn"}, []).global_model()
