"""scripts/gpu_check.py, dry: the prepared GPU call's steps, files and resuming, on this CPU at smoke size.

Two calls share one ``--out``: the first runs the executor checks, two smoke recordings and the first chapters
its budget allows; the second goes on with the chapters it left. Nothing finished is done again, every file a GPU
call writes is there, and each check's verdict is the one a GPU must give.
"""

from __future__ import annotations

import json

import pytest

from tools import gpu_check

pytestmark = pytest.mark.slow  # two budgeted calls: about a minute and a half


@pytest.fixture(scope="module")
def two_calls(tmp_path_factory):
    out, work = tmp_path_factory.mktemp("gpu-check"), tmp_path_factory.mktemp("gpu-work")
    common = ["--out", str(out), "--work", str(work), "--dry-run"]
    first = gpu_check.main([*common, "--steps", "recordings", "executors", "chapters", "--budget", "45"])
    second = gpu_check.main([*common, "--budget", "30"])
    return out, first, second


def _state(out):
    return json.loads((out / gpu_check.STATE).read_text())


def test_a_call_stops_at_its_budget_and_the_next_goes_on_without_repeating_anything(two_calls):
    out, first, second = two_calls
    assert first == 3 and second in (0, 3)  # the first call's budget ran out before every chapter
    log = (out / gpu_check.LOG).read_text().splitlines()
    start_of_second = next(i for i, line in enumerate(log) if "call 2 on cpu" in line)
    done = [line.split(": ", 1)[1].removesuffix(" done") for line in log if line.endswith(" done")]
    first_done = [
        line.split(": ", 1)[1].removesuffix(" done") for line in log[:start_of_second] if line.endswith(" done")
    ]
    assert first_done[0].startswith("smoke:observed")  # the recordings, first in its order
    assert len(done) == len(set(done)) > len(first_done)  # the second call finished more, and nothing twice
    second_call = log[start_of_second:]
    assert not any(line.endswith(f": {item} ...") for item in first_done for line in second_call)
    ending = " finished in an earlier call: skipped"
    skipped = {line.split(": ", 1)[1].removesuffix(ending) for line in second_call if line.endswith(ending)}
    assert {item for item in first_done if not item.startswith("smoke:")} <= skipped  # the recordings come last
    state = _state(out)
    assert len(state["calls"]) == 2 and state["dry_run"]
    assert sorted(item for items in state["done"].values() for item in items) == sorted(done)


def test_the_executor_checks_give_the_verdicts_a_gpu_must_give(two_calls):
    out, _, _ = two_calls
    results = json.loads((out / gpu_check.EXECUTORS).read_text())
    assert {"ratio_fast", "ratio_model_a", "bit_for_bit", "dropout_masks"} <= set(results)  # one call or the other
    assert results["bit_for_bit"]["identical_records"] and results["bit_for_bit"]["identical_final_model"]
    assert results["dropout_masks"]["identical"] and results["dropout_masks"]["masks_per_agent"] > 0
    for name in ("ratio_fast", "ratio_model_a"):
        assert results[name]["sequential"] > 0 and results[name]["sequential_over_batched"] > 0


def test_the_chapters_ran_with_their_smoke_values_and_chapter_11_is_skipped_only_without_flower(two_calls):
    out, _, _ = two_calls
    chapters = json.loads((out / gpu_check.CHAPTERS).read_text())
    assert "01_fedavg" in chapters and all(entry["error"] is None for entry in chapters.values())
    assert all(
        'device="cpu"' in " ".join(entry["settings"]) or "device='cpu'" in " ".join(entry["settings"])
        for entry in chapters.values()
    )


def test_every_file_of_a_gpu_call_is_written_and_fewer_than_a_call_brings_back(two_calls):
    out, _, _ = two_calls
    files = {path.name for path in out.iterdir() if path.is_file()}
    assert {gpu_check.STATE, gpu_check.LOG, gpu_check.EXECUTORS, gpu_check.CHAPTERS, gpu_check.RECORDINGS} <= files
    assert len(files) <= 8
    recorded = json.loads((out / gpu_check.RECORDED).read_text())  # a bundle record_runs.py can unpack
    assert sorted(recorded) == sorted(f"{name}_smoke_seed0.json" for name in gpu_check.DRY_RUN_RECORDINGS)
    assert all(run["provenance"]["device"] == "cpu" for run in recorded.values())


def test_a_dry_run_out_folder_is_not_mixed_with_a_real_one(tmp_path):
    (tmp_path / gpu_check.STATE).write_text(json.dumps({"done": {}, "calls": [], "dry_run": False}))
    with pytest.raises(SystemExit, match="holds a real run"):
        gpu_check.main(["--out", str(tmp_path), "--dry-run"])


def test_a_budget_that_leaves_nothing_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--out", str(tmp_path), "--dry-run", "--budget", "5"])
    assert "--budget must be more than" in capsys.readouterr().err
