"""The command line: a run, its JSON, and one-sentence errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fedutils.aggregators import AGGREGATORS, PRE_AGGREGATORS, FedAvg, Krum, Median, MultiKrum, NormClip, ServerRule
from fedutils.attacks import ATTACKS
from fedutils.checks import CHECKS
from fedutils.cli import build_parser, config_from_args, main, run_options_from_args
from fedutils.run_options import EngineName, ExecutorName, GpuArithmetic


def test_run_writes_per_round_json(tmp_path, capsys):
    out = tmp_path / "out.json"
    status = main(["run", "--preset", "smoke", "--seed", "0", "--rounds", "2", "--json", str(out), "--quiet"])
    assert status == 0
    rows = json.loads(out.read_text())
    assert [r["round"] for r in rows] == [1, 2]
    for row in rows:
        assert {"round", "val_accuracy", "val_loss", "target_confidence", "target_predicted"} <= set(row)
        assert 0 <= row["val_accuracy"] <= 1 and len(row["agents"]) == 10
    printed = capsys.readouterr().out
    assert "2 rounds, final validation accuracy" in printed and "computed in" in printed
    assert main(["run", "--preset", "smoke", "--rounds", "2", "--quiet"]) == 0
    assert "read from the cache" in capsys.readouterr().out


def test_attack_run_records_the_attacker(tmp_path):
    out = tmp_path / "attack.json"
    argv = ["run", "--preset", "smoke", "--attack", "explicit_boosting", "--boost", "10", "--mal-epochs", "5"]
    assert main([*argv, "--json", str(out), "--quiet", "--no-cache"]) == 0
    rows = json.loads(out.read_text())
    assert [a["agent_id"] for a in rows[-1]["agents"] if a["is_malicious"]] == [9]
    assert rows[-1]["target_predicted"] == 7


def test_attack_options_map_onto_the_attack():
    args = build_parser().parse_args(
        ["run", "--attack", "alternating", "--boost", "2", "--rho", "0.001", "--stealth-steps", "5",
         "--mal-epochs", "3", "--estimation", "previous", "--estimation-use", "post", "--malicious-agent", "0",
         "--adversarial-model", "global_estimate"]
    )  # fmt: skip
    attack = config_from_args(args).attack
    assert (attack.name, attack.boost, attack.rho, attack.stealth_steps, attack.epochs) == (
        "alternating",
        2,
        1e-3,
        5,
        3,
    )
    assert (attack.estimation.value, attack.estimation_use.value, attack.malicious_agent) == ("previous", "post", 0)
    assert attack.adversarial_model.value == "global_estimate"
    assert config_from_args(build_parser().parse_args(["run", "--attack", "none"])).attack is None


def test_check_options_map_onto_the_server_checks():
    args = build_parser().parse_args(
        ["run", "--check", "accuracy", "--check", "distance", "--check-mode", "filter", "--gamma", "0.2",
         "--kappa", "0.3", "--distance-parameters", "all", "--held-out", "500"]
    )  # fmt: skip
    checks = config_from_args(args).checks
    accuracy, distance = checks.checks
    assert (accuracy.name, accuracy.gamma, distance.name, distance.kappa, distance.weights_only) == (
        "accuracy",
        0.2,
        "distance",
        0.3,
        False,
    )
    assert (checks.mode.value, checks.held_out_samples) == ("filter", 500)
    assert config_from_args(build_parser().parse_args(["run"])).checks is None


def test_aggregator_options_map_onto_the_rule():
    args = build_parser().parse_args(
        ["run", "--aggregator", "multi_krum", "--f", "2", "--krum-selected", "5", "--krum-distance", "authors",
         "--server-step", "fedavg"]
    )  # fmt: skip
    server = config_from_args(args).aggregator
    assert server == ServerRule(MultiKrum(f=2, selected=5, distance="authors"), step="fedavg")
    assert config_from_args(build_parser().parse_args(["run"])).aggregator is None


@pytest.mark.parametrize("rule", [Krum(f=1), Median()])
def test_norm_clipping_runs_in_front_of_krum_and_the_median(rule):
    """Clip, then Krum or the median (a composition fedutils 0.2's one-rule server could not express)."""
    argv = ["run", "--aggregator", rule.name, "--pre-aggregator", "norm_clip", "--clip-norm", "3"]
    server = config_from_args(build_parser().parse_args(argv)).aggregator
    assert server == ServerRule(rule, pre=(NormClip(max_norm=3.0),))
    assert server.to_dict()["pre"] == [{"name": "norm_clip", "max_norm": 3.0}]


def test_the_old_norm_clip_rule_is_clipping_in_front_of_fedavg_with_the_old_key():
    old = config_from_args(build_parser().parse_args(["run", "--aggregator", "norm_clip", "--clip-norm", "4"]))
    new = config_from_args(build_parser().parse_args(["run", "--pre-aggregator", "norm_clip", "--clip-norm", "4"]))
    assert old == new and old.aggregator == ServerRule(FedAvg(), pre=(NormClip(max_norm=4.0),))
    assert old.to_dict()["aggregator"] == {
        "rule": "norm_clip", "f": 1, "trim": None, "clip_norm": 4.0, "krum_selected": None,
        "krum_distance": "squared", "step": "unit",
    }  # fmt: skip


def test_help_lists_every_attack_rule_pre_aggregator_and_check_with_its_line(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # unwrapped
    for family in (ATTACKS, AGGREGATORS, PRE_AGGREGATORS, CHECKS):
        for name, kind in family.items():
            assert kind.summary, f"{name} has no one-line summary for --help"
            assert f"{name} {kind.summary}" in text


def test_check_run_writes_verdicts_to_json(tmp_path, capsys):
    out = tmp_path / "checks.json"
    argv = ["run", "--preset", "smoke", "--attack", "explicit_boosting", "--check", "accuracy", "--check", "distance"]
    assert main([*argv, "--check-mode", "filter", "--json", str(out), "--quiet", "--no-cache"]) == 0
    rows = json.loads(out.read_text())
    verdicts = [c for c in rows[0]["checks"] if c["agent_id"] == 9]
    assert {c["check"] for c in verdicts} == {"accuracy", "distance"} and all(c["flagged"] for c in verdicts)
    assert [a["aggregated"] for a in rows[0]["agents"]] == [True] * 9 + [False]
    assert "detection_rate" in capsys.readouterr().out


def test_machine_options_map_onto_the_run_options():
    args = build_parser().parse_args(["run", "--executor", "batched", "--gpu-arithmetic", "fast"])
    options = run_options_from_args(args)
    assert (options.executor, options.engine, options.gpu_arithmetic) == (
        ExecutorName.BATCHED,
        EngineName.SIMULATOR,
        GpuArithmetic.FAST,
    )
    assert run_options_from_args(build_parser().parse_args(["run"])).gpu_arithmetic is GpuArithmetic.REPRODUCIBLE


def test_options_map_onto_the_config():
    args = build_parser().parse_args(
        [
            "run",
            "--preset",
            "fast",
            "--k",
            "20",
            "--C",
            "0.5",
            "--epochs",
            "2",
            "--batch-size",
            "25",
            "--target",
            "5454:7",
            "--target",
            "3846:6",
            "--stop-accuracy",
            "none",
            "--rounds",
            "7",
            "--batch-order",
            "shuffled",
            "--no-agent-eval",
        ]
    )
    config = config_from_args(args)
    assert (config.num_agents, config.participation, config.local_epochs, config.batch_size) == (20, 0.5, 2.0, 25)
    assert [str(t) for t in config.targets] == ["5454:7", "3846:6"]
    assert config.stop_accuracy is None and config.max_rounds == 7
    assert config.batch_order.value == "shuffled" and not config.evaluate_agents


def _exit_status(argv: list[str]) -> int:
    """main()'s status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (["run", "--k", "0"], "k (num_agents) must be an integer"),
        (["run", "--C", "1.5"], "C (participation) must be in (0, 1]"),
        (["run", "--C", "0"], "C (participation) must be in (0, 1]"),
        (["run", "--target", "10000:7"], "target index 10000 is outside the test set"),
        (["run", "--target", "5454:5", "--preset", "smoke"], "must differ from its true class"),
        (["run", "--target", "abc"], "INDEX:CLASS"),
        (["run", "--stop-accuracy", "high"], "expected a fraction"),
        (["run", "--device", "tpu"], "device must be"),
        (["run", "--boost", "3"], "--boost need --attack, one of: explicit_boosting"),
        (["run", "--attack", "explicit_boosting", "--stealth-steps", "3"], "--stealth-steps does not apply"),
        (["run", "--attack", "alternating", "--malicious-agent", "10"], "malicious_agent must be between 0 and"),
        (["run", "--attack", "stealthy", "--rho", "-1"], "rho (ρ) must be a number of at least 0"),
        (["run", "--attack", "backdoor"], "invalid choice"),
        (["run", "--kappa", "0.2"], "--kappa need --check, one of: accuracy, distance"),
        (["run", "--check", "accuracy", "--kappa", "0.2"], "--kappa applies to the distance check"),
        (["run", "--check", "accuracy", "--gamma", "2"], "gamma (γ, the accuracy check's threshold) must be"),
        (["run", "--check", "distance", "--k", "2"], "need at least 3 agents per round"),
        (["run", "--check", "accuracy", "--held-out", "10000"], "held_out_samples must be below"),
        (["run", "--check", "norm"], "invalid choice"),
        (["run", "--f", "2"], "--f need --aggregator, one of: fedavg, krum"),
        (["run", "--aggregator", "bulyan", "--f", "2"], "bulyan with f = 2 needs at least 11 updates per round"),
        (["run", "--aggregator", "norm_clip"], "norm_clip needs --clip-norm M"),
        (["run", "--pre-aggregator", "norm_clip"], "norm_clip needs --clip-norm M"),
        (["run", "--aggregator", "krum", "--trim", "2"], "--trim does not apply to krum; it applies to: trimmed_mean"),
        (["run", "--aggregator", "median", "--clip-norm", "2"], "--clip-norm does not apply to median"),
        (["run", "--aggregator", "trimmed_mean", "--trim", "5"], "trimmed_mean with f = 1, trim = 5 needs at least 11"),
        (["run", "--dropout", "1.5"], "dropout must be a probability"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_status_2(argv, message, capsys):
    assert _exit_status(argv) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1


def test_missing_dataset_from_a_real_process(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedutils",
            "run",
            "--preset",
            "smoke",
            "--no-cache",
            "--no-download",
            "--data-root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert "Fashion-MNIST was not found" in completed.stderr and "Traceback" not in completed.stderr


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in [
        "--preset",
        "--seed",
        "--rounds",
        "--k",
        "--C",
        "--epochs",
        "--batch-size",
        "--target",
        "--device",
        "--no-cache",
        "--json",
        "--check",
        "--check-mode",
        "--gamma",
        "--kappa",
        "examples:",
    ]:
        assert option in text


def test_presets_command_lists_them(capsys):
    assert main(["presets"]) == 0
    assert "paper:" in capsys.readouterr().out


def test_the_batched_executor_runs_on_a_cpu_and_matches_the_sequential_one(tmp_path):
    """``--executor batched`` on a machine without a GPU: the same records as ``--executor sequential``, up to
    float rounding (accuracy within half a point, confidence within 0.05; see tests/test_execution.py)."""
    rows = {}
    for executor in ("sequential", "batched"):
        out = tmp_path / f"{executor}.json"
        argv = ["run", "--preset", "smoke", "--attack", "explicit_boosting", "--device", "cpu", "--executor", executor]
        assert main([*argv, "--json", str(out), "--quiet", "--no-cache"]) == 0
        rows[executor] = json.loads(out.read_text())
    for sequential, batched in zip(rows["sequential"], rows["batched"], strict=True):
        assert abs(sequential["val_accuracy"] - batched["val_accuracy"]) <= 0.005
        assert abs(sequential["target_confidence"] - batched["target_confidence"]) <= 0.05
        assert sequential["target_predicted"] == batched["target_predicted"]


def test_an_unknown_executor_is_one_sentence(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--preset", "smoke", "--executor", "threads"])
    assert stopped.value.code == 2
    assert "invalid choice: 'threads'" in capsys.readouterr().err


def test_the_attacks_and_defenses_since_2019_run_from_the_command_line(tmp_path):
    """``--attack alie --attackers 2 --aggregator centered_clipping --pre-aggregator bucketing`` and the like."""
    out = tmp_path / "out.json"
    code = main(
        [
            "run", "--preset", "smoke", "--rounds", "1", "--no-cache", "--json", str(out), "--attack", "alie",
            "--attackers", "2", "--aggregator", "centered_clipping", "--cc-tau", "2",
            "--pre-aggregator", "bucketing", "--bucket-size", "2",
        ]
    )  # fmt: skip
    assert code == 0
    agents = json.loads(out.read_text())[0]["agents"]
    assert [agent["is_malicious"] for agent in agents][-3:] == [False, True, True]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--attack", "alie", "--attackers", "10"], "attackers"),
        (["--attack", "ipm", "--attackers", "2", "--engine", "flower"], "simulator"),
        (["--aggregator", "median", "--pre-aggregator", "bucketing", "--bucket-size", "0"], "bucket_size"),
        (["--aggregator", "fltrust", "--root-samples", "20000"], "root"),
        (["--attack", "model_replacement", "--class-weight", "2"], "alpha"),
    ],
)
def test_bad_options_of_the_new_methods_exit_2_with_one_sentence_and_write_nothing(flags, words, tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["run", "--preset", "smoke", "--rounds", "1", "--no-cache", "--json", str(out), *flags])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err and not out.exists()


def test_an_attack_window_from_the_command_line_and_the_attack_success_rate_in_the_table(tmp_path, capsys):
    out = tmp_path / "out.json"
    flags = ["--attack", "model_replacement", "--attack-rounds", "2", "2", "--mal-epochs", "1"]
    assert main(["run", "--preset", "smoke", "--rounds", "2", "--no-cache", "--json", str(out), *flags]) == 0
    assert "attack_success" in capsys.readouterr().out
    assert all(0 <= record["attack_success"] <= 1 for record in json.loads(out.read_text()))
    config = config_from_args(build_parser().parse_args(["run", "--attack", "ipm", "--attack-rounds", "3", "5"]))
    assert config.attack.active_rounds == (3, 5)
    assert main(["run", "--preset", "smoke", "--attack", "ipm", "--attack-rounds", "5", "3", "--no-cache"]) == 2
