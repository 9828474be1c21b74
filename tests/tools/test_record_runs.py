"""scripts/record_runs.py: the model-A recordings are the chapters' runs, and a recording round-trips."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
import torch

from fedutils import preset
from fedutils.analysis import checks_frame
from fedutils.attacks import (
    AdversarialModel,
    AlternatingMinimisation,
    DataPoisoning,
    ExplicitBoosting,
    StealthyPoisoning,
)
from fedutils.book.recorded import OBSERVED_PAPER_RUNS
from fedutils.checks import ServerChecks
from fedutils.cli import build_parser, config_from_args
from fedutils.device import resolve_device
from fedutils.records import RunResult
from fedutils.simulation.execution import resolve_executor
from tools import record_runs

AIMED = AdversarialModel.GLOBAL_ESTIMATE


def test_the_observed_recordings_are_chapters_3_to_5_s_runs_on_model_a():
    """As Chapters 3-5 build them (``benign_config`` with the checks observing), on the paper preset."""
    chapters = preset("paper", seed=0, max_rounds=4, checks=ServerChecks())
    attacks = {
        "observed_none": None,
        "observed_explicit_boosting": ExplicitBoosting(),
        "observed_stealthy": StealthyPoisoning(),
        "observed_stealthy_aimed": StealthyPoisoning(adversarial_model=AIMED),
        "observed_alternating_aimed": AlternatingMinimisation(adversarial_model=AIMED),
        "observed_data_poisoning": DataPoisoning(),
    }
    for name, attack in attacks.items():
        assert record_runs.configuration(name, "paper", 0) == chapters.replace(attack=attack), name


def test_the_chapters_labels_name_exactly_the_observed_recordings():
    observed = {file_name for file_name in OBSERVED_PAPER_RUNS.values()}
    expected = {record_runs.file_name(name, "paper", 0).removesuffix(".json") for name in record_runs.RECORDINGS}
    assert observed == {name for name in expected if name.startswith("observed_")}


def test_the_estimation_recordings_are_chapter_6_s_table_on_model_a():
    """As Chapter 6 builds its table (every round run, estimation from the previous step used before training)."""
    table = preset("paper", max_rounds=4, stop_accuracy=None)
    alternating = AlternatingMinimisation(adversarial_model=AIMED)
    for name, attack in {"explicit_boosting": ExplicitBoosting(), "alternating_aimed": alternating}.items():
        previous = attack.replace(estimation="previous", estimation_use="pre")
        for seed in (1, 2):
            assert record_runs.configuration(name, "paper", seed) == table.replace(seed=seed, attack=attack)
        for seed in (0, 1, 2):
            expected = table.replace(seed=seed, attack=previous)
            assert record_runs.configuration(f"{name}_previous", "paper", seed) == expected


def test_a_recording_is_written_with_its_provenance_bundled_and_not_repeated(tmp_path, capsys):
    out, bundle = tmp_path / "recorded", tmp_path / "bundle.json"
    arguments = ["observed_explicit_boosting", "--preset", "smoke", "--out", str(out), "--bundle", str(bundle)]
    assert record_runs.main([*arguments, "--device", "cpu", "--executor", "sequential"]) == 0
    path = out / "observed_explicit_boosting_smoke_seed0.json"
    data = json.loads(path.read_text())
    run = RunResult.from_json_dict(data)
    made = data["provenance"]
    command = shlex.split(made["command"].removeprefix("python -m fedutils "))
    assert run.config == config_from_args(build_parser().parse_args(command))
    assert run.rounds >= 1 and checks_frame(run)["flagged"].notna().all()  # the server's verdicts are in
    assert {"machine", "date", "torch", "python", "seconds"} <= set(made) and made["executor"] == "sequential"
    assert json.loads(bundle.read_text()) == {path.name: data}

    assert record_runs.main(arguments) == 0  # already there: nothing runs
    assert "already recorded: skipped" in capsys.readouterr().out
    unpacked = tmp_path / "unpacked"
    assert record_runs.main(["--from-bundle", str(bundle), "--out", str(unpacked)]) == 0
    assert (unpacked / path.name).read_text() == path.read_text()


def test_the_provenance_names_the_device_and_executor_that_auto_chose(monkeypatch):
    """``--device auto`` on a GPU once recorded "no GPU used" and "auto": the provenance says what ran."""
    config = record_runs.configuration("observed_none", "smoke", 0)
    monkeypatch.setattr(record_runs, "configuration", lambda *_: config.replace(max_rounds=1))
    made = record_runs.record("observed_none", "smoke", 0, "auto", "auto", progress=False)["provenance"]
    chosen = resolve_device("auto")
    assert made["device"] == str(chosen) and made["executor"] == resolve_executor("auto", chosen).value
    assert made["executor"] != "auto" and ("no GPU used" in made["machine"]) == (chosen.type == "cpu")


@pytest.mark.slow
def test_runs_recorded_at_once_in_worker_processes_are_the_runs_recorded_alone(tmp_path):
    out = tmp_path / "recorded"
    options = ["--preset", "smoke", "--device", "cpu", "--executor", "sequential", "--out", str(out)]
    script = [sys.executable, str(record_runs.__file__), "observed_none", "observed_explicit_boosting", *options]
    finished = subprocess.run([*script, "--jobs", "2"], capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert "2 runs, 2 at a time with 1 torch thread(s) each" in finished.stdout
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker had
    try:
        alone = record_runs.record("observed_explicit_boosting", "smoke", 0, "cpu", "sequential", progress=False)
    finally:
        torch.set_num_threads(threads)
    in_worker = json.loads((out / "observed_explicit_boosting_smoke_seed0.json").read_text())
    untimed = [
        [{k: v for k, v in round_.items() if k != "seconds"} for round_ in run["records"]] for run in (in_worker, alone)
    ]
    assert untimed[0] == untimed[1] and in_worker["config"] == alone["config"]
    assert (out / "observed_none_smoke_seed0.json").exists()


def test_bad_requests_say_what_is_allowed(capsys):
    with pytest.raises(SystemExit):
        record_runs.main(["observed_everything", "--out", "x"])
    assert "unknown recording observed_everything; choose from observed_none" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        record_runs.main(["observed_none"])
    assert "--out is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        record_runs.main(["observed_none", "--out", "x", "--jobs", "0"])
    assert "--jobs must be at least 1 (runs recorded at once), got 0" in capsys.readouterr().err
    assert record_runs.main(["--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == sum(len(seeds) for _, seeds in record_runs.RECORDINGS.values()) == 16
