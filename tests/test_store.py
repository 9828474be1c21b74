"""The run cache: keys that carry the numerics version, entries that survive damage and races.

A run killed, crashed or out of disk while storing, a copy cut short, two
processes storing the same run at once: every way an entry can be damaged is
made here on a real entry, and the next run must report it in one line,
compute again, and give the records of an undamaged run.
"""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import shutil
from pathlib import Path

import pytest
import torch
from support import CACHED

from fedutils import preset, run_experiment
from fedutils.records import Reply, RunResult, run_kind
from fedutils.run_options import EngineName
from fedutils.store import (
    MANIFEST,
    NUMERICS_VERSION,
    PARAMS_FILE,
    RESULT_FILE,
    UPDATES_FILE,
    CacheWarning,
    ResultCache,
    config_hash,
)

CONFIG = preset("smoke", max_rounds=1, keep_updates=(1,))
"""A run that keeps a round's updates, so its entry has all three files."""


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The undamaged run, computed once (its entry is copied into each test's cache)."""
    folder = tmp_path_factory.mktemp("pristine")
    result = run_experiment(CONFIG, CACHED.replace(cache_dir=folder))
    return result


def _entry(tmp_path: Path, result: RunResult) -> tuple[ResultCache, Path]:
    cache = ResultCache(tmp_path / "runs")
    return cache, cache.save(result)


def _same_run(a: RunResult, b: RunResult) -> None:
    def without_seconds(run: RunResult) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in run.to_records()]

    assert without_seconds(a) == without_seconds(b)
    assert torch.equal(a.final_params, b.final_params)
    assert a.updates.keys() == b.updates.keys() and all(torch.equal(a.updates[t], b.updates[t]) for t in a.updates)


def test_the_key_carries_the_numerics_version_not_the_package_version(monkeypatch):
    key = config_hash(CONFIG.to_dict())
    monkeypatch.setattr("fedutils._version.__version__", "9.9.9")
    assert config_hash(CONFIG.to_dict()) == key  # a release that moves no number keeps every cached run
    monkeypatch.setattr("fedutils.store.NUMERICS_VERSION", NUMERICS_VERSION + ".1")
    assert config_hash(CONFIG.to_dict()) != key  # one that moves a number orphans every run cached before it


def test_a_run_cached_before_a_numerics_change_is_not_returned_after_it(stored, tmp_path, monkeypatch):
    cache, _ = _entry(tmp_path, stored)
    assert cache.load(CONFIG.to_dict()) is not None
    monkeypatch.setattr("fedutils.store.NUMERICS_VERSION", NUMERICS_VERSION + ".1")
    assert cache.load(CONFIG.to_dict()) is None


def test_a_flower_run_is_kept_apart_from_the_simulators_with_its_transcript(stored, tmp_path):
    """Same records, another engine: a Flower run's entry has its own key and gives back what its server was sent;
    the simulator's keys are those of fedutils 0.2."""
    assert config_hash(CONFIG.to_dict(), EngineName.SIMULATOR) == config_hash(CONFIG.to_dict())
    assert config_hash(CONFIG.to_dict(), EngineName.FLOWER) != config_hash(CONFIG.to_dict())
    cache, _ = _entry(tmp_path, stored)
    assert cache.load(CONFIG.to_dict(), EngineName.FLOWER) is None  # the simulator's run has no transcript to give
    transcript = {1: [Reply(node_id=7, agent_id=0, offline=False, record_bytes={"update": 812})]}
    on_flower = dataclasses.replace(stored, engine=EngineName.FLOWER, transcript=transcript)
    cache.save(on_flower)
    loaded = cache.load(CONFIG.to_dict(), "flower")
    assert loaded.engine is EngineName.FLOWER and loaded.transcript == transcript
    _same_run(loaded, stored)
    assert not cache.load(CONFIG.to_dict()).transcript  # and the simulator's entry is still its own
    flower_entry = cache.folder(CONFIG.to_dict(), EngineName.FLOWER)
    shutil.rmtree(flower_entry)
    shutil.copytree(cache.folder(CONFIG.to_dict()), flower_entry)  # the simulator's run under the Flower key
    with pytest.warns(CacheWarning, match="a run of another kind"):
        assert cache.load(CONFIG.to_dict(), EngineName.FLOWER) is None


def test_a_run_with_fast_gpu_arithmetic_is_cached_apart_and_says_so(stored, tmp_path):
    cache = ResultCache(tmp_path / "runs")
    fast = dataclasses.replace(stored, fast_gpu_arithmetic=True)
    cache.save(fast)
    assert cache.load(CONFIG.to_dict()) is None  # a reproducible run is not served a fast one's numbers
    loaded = cache.load(CONFIG.to_dict(), run_kind(EngineName.SIMULATOR, fast_gpu_arithmetic=True))
    assert loaded.fast_gpu_arithmetic and loaded.to_json_dict()["fast_gpu_arithmetic"] is True
    _same_run(loaded, stored)


def test_an_entry_lists_its_files_with_their_sizes_and_checksums(stored, tmp_path):
    _, folder = _entry(tmp_path, stored)
    manifest = json.loads((folder / RESULT_FILE).read_text())[MANIFEST]
    assert set(manifest) == {PARAMS_FILE, UPDATES_FILE}
    assert all(entry["bytes"] == (folder / name).stat().st_size for name, entry in manifest.items())
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _zero_tail(path: Path) -> None:
    """What a full disk can leave: the right size, the end never written."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
    path.write_bytes(bytes(data))


DAMAGE = {
    "result.json missing": lambda folder: (folder / RESULT_FILE).unlink(),
    "result.json truncated": lambda folder: _truncate(folder / RESULT_FILE),
    "result.json empty": lambda folder: (folder / RESULT_FILE).write_text(""),
    "final_params.pt missing": lambda folder: (folder / PARAMS_FILE).unlink(),
    "final_params.pt truncated": lambda folder: _truncate(folder / PARAMS_FILE),
    "final_params.pt half-written": lambda folder: _zero_tail(folder / PARAMS_FILE),
    "updates.pt missing": lambda folder: (folder / UPDATES_FILE).unlink(),
    "updates.pt truncated": lambda folder: _truncate(folder / UPDATES_FILE),
    "updates.pt half-written": lambda folder: _zero_tail(folder / UPDATES_FILE),
    "another configuration's result.json": lambda folder: (folder / RESULT_FILE).write_text(
        (folder / RESULT_FILE).read_text().replace('"seed": 0', '"seed": 1')
    ),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_entry_is_reported_in_one_line_and_computed_again(stored, tmp_path, damage):
    cache, folder = _entry(tmp_path, stored)
    DAMAGE[damage](folder)
    with pytest.warns(CacheWarning) as warned:
        assert cache.load(CONFIG.to_dict()) is None  # never a crash, never the damaged numbers
    (message,) = [str(w.message) for w in warned]
    assert str(folder) in message and "computed again" in message and "\n" not in message
    with pytest.warns(CacheWarning):
        again = run_experiment(CONFIG, CACHED.replace(cache_dir=cache.directory))
    assert not again.from_cache
    _same_run(again, stored)
    repaired = cache.load(CONFIG.to_dict())  # the recomputed run replaced the damaged entry
    assert repaired is not None and repaired.from_cache
    _same_run(repaired, stored)


def test_an_entry_from_fedutils_0_2_without_a_manifest_is_read_and_checked(stored, tmp_path):
    cache, folder = _entry(tmp_path, stored)
    stored_json = json.loads((folder / RESULT_FILE).read_text())
    del stored_json[MANIFEST]
    (folder / RESULT_FILE).write_text(json.dumps(stored_json))
    old = cache.load(CONFIG.to_dict())
    assert old is not None
    _same_run(old, stored)
    _truncate(folder / PARAMS_FILE)
    with pytest.warns(CacheWarning, match="final_params.pt cannot be read"):
        assert cache.load(CONFIG.to_dict()) is None


def test_a_run_that_cannot_be_stored_is_reported_and_returned(stored, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(CacheWarning, match="could not store the run"):
        ResultCache(blocker).save(stored)


def _store_at_once(directory: str, start: multiprocessing.synchronize.Barrier, result_json: dict, tensors: bytes):
    """One of two writers of the same entry (in its own process): both wait, then store together."""
    saved = torch.load(io.BytesIO(tensors), weights_only=True)
    result = RunResult.from_json_dict(result_json, saved["params"])
    result.updates = saved["updates"]
    start.wait()
    ResultCache(directory).save(result)


@pytest.mark.parametrize("damaged_first", [False, True], ids=["empty", "over a damaged entry"])
def test_two_writers_of_one_entry_both_finish_and_leave_one_whole_entry(stored, tmp_path, damaged_first):
    cache = ResultCache(tmp_path / "runs")
    if damaged_first:
        folder = cache.save(stored)
        _truncate(folder / PARAMS_FILE)
    buffer = io.BytesIO()
    torch.save({"params": stored.final_params, "updates": stored.updates}, buffer)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    writers = [
        context.Process(
            target=_store_at_once, args=(str(cache.directory), start, stored.to_json_dict(), buffer.getvalue())
        )
        for _ in range(2)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0]
    entries = [p for p in cache.directory.iterdir()]
    assert [p.name for p in entries] == [config_hash(CONFIG.to_dict())], "one entry, no staging leftovers"
    loaded = cache.load(CONFIG.to_dict())
    assert loaded is not None
    _same_run(loaded, stored)


def test_the_cache_folder_can_be_moved_and_still_found(stored, tmp_path):
    cache, _ = _entry(tmp_path, stored)
    moved = tmp_path / "elsewhere"
    shutil.move(str(cache.directory), moved)
    assert ResultCache(moved).load(CONFIG.to_dict()) is not None
