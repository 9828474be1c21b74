"""A real Flower deployment on this machine (``scripts/flower_deployment.py``): a SuperLink and one SuperNode per
agent, each its own process, the run submitted with ``flwr run``.

The run must finish, every process must be gone afterwards (also when the run fails), and the records must be the
simulator's: each agent's update is computed by a fresh ``flwr-clientapp`` process with the simulator's code, so
validation accuracy (a count of examples) agrees exactly and the target's confidence within a relative 1e-4 (the
executors' tolerance: a SuperNode may use another number of torch threads than the simulator), and Krum chooses
the same update every round.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import QUIET, STARTS_RAY

from fedutils import run_experiment
from fedutils.flower import deployment as deployment_module
from fedutils.records import RunResult

pytestmark = [pytest.mark.slow, STARTS_RAY]  # a SuperLink and SuperNodes as processes

pytest.importorskip("flwr")

AGENTS = 3
ROUNDS = 2
KRUM_F = 0
"""Krum needs n ≥ 2f + 3 updates per round: with 3 agents, f = 0."""
TIMEOUT = 300.0
"""Seconds the deployment may take before the script stops it (about 1–2 minutes on 2 busy cores)."""
RELATIVE_TOLERANCE = 1e-4
PROC = Path("/proc")


@pytest.fixture(scope="module")
def deployment() -> ModuleType:
    if not (Path(sys.executable).parent / "flower-superlink").exists():
        pytest.skip("Flower's console scripts are not installed beside this Python")
    return deployment_module


def _processes_in(folder: Path) -> list[int]:
    """The processes whose FLWR_HOME lies in ``folder``: those the script started, and theirs (Linux only)."""
    marker = f"FLWR_HOME={folder}".encode()
    found = []
    for environ in PROC.glob("[0-9]*/environ"):
        try:
            if any(entry.startswith(marker) for entry in environ.read_bytes().split(b"\0")):
                found.append(int(environ.parent.name))
        except (OSError, ValueError):
            continue
    return found


def test_a_superlink_and_three_supernodes_run_krum_against_explicit_boosting(deployment, tmp_path):
    config = deployment.experiment_config(AGENTS, ROUNDS, KRUM_F, boost=None, seed=0)
    logs, out = tmp_path / "logs", tmp_path / "records.json"
    outcome = deployment.run_deployment(config, out=out, keep_logs=logs, timeout=TIMEOUT, echo=False)

    assert outcome.supernodes == AGENTS >= 3
    programs = [command[0] for command in outcome.commands]
    assert programs == [deployment.SUPERLINK] + [deployment.SUPERNODE] * AGENTS + [deployment.FLWR]
    assert not _processes_in(logs.resolve()), "a process of the deployment outlived the script"
    deployed = RunResult.from_json_dict(json.loads(out.read_text()))
    assert deployed.rounds == ROUNDS
    assert deployed.config == config

    simulated = run_experiment(config, QUIET.replace(executor="sequential"))
    for flower, simulator in zip(deployed.records, simulated.records, strict=True):
        assert flower.val_accuracy == pytest.approx(simulator.val_accuracy, abs=1e-4)
        assert flower.target_confidence == pytest.approx(simulator.target_confidence, rel=RELATIVE_TOLERANCE)
        assert [(a.agent_id, a.is_malicious, a.selected) for a in flower.agents] == [
            (a.agent_id, a.is_malicious, a.selected) for a in simulator.agents
        ]
    table = deployment.round_table(deployed)
    assert list(table.index) == list(range(1, ROUNDS + 1))
    assert set(table["attacker_chosen"]) <= {"yes", "no"}


def test_a_failed_submission_names_flwr_run_and_stops_every_process(deployment, tmp_path):
    broken_app = tmp_path / "app"
    broken_app.mkdir()
    (broken_app / "pyproject.toml").write_text('[project]\nname = "broken"\n')
    config = deployment.experiment_config(AGENTS, 1, KRUM_F, boost=None, seed=0)
    logs = tmp_path / "logs"
    with pytest.raises(deployment.DeploymentError, match=r"^flwr run .*flwr-run\.log"):
        deployment.run_deployment(config, keep_logs=logs, timeout=TIMEOUT, app=broken_app, echo=False)
    assert not _processes_in(logs.resolve()), "a process of the deployment outlived the failure"


def test_the_flower_app_names_fedutils_apps_and_the_server_s_run_config(deployment):
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp

    from fedutils.flower import server

    manifest = tomllib.loads((deployment.APP_DIR / "pyproject.toml").read_text())
    app = manifest["tool"]["flwr"]["app"]
    for component, kind in (("serverapp", ServerApp), ("clientapp", ClientApp)):
        module, _, attribute = app["components"][component].partition(":")
        assert module.startswith("fedutils.flower.")
        assert isinstance(getattr(importlib.import_module(module), attribute), kind)
    assert set(app["config"]) == {
        server.EXPERIMENT_FILE,
        server.RESULT_FILE,
        server.DEVICE,
        server.DATA_ROOT,
        server.DOWNLOAD,
    }
    assert "federations" not in manifest["tool"]["flwr"], "flwr run would move it to ~/.flwr and edit this file"


def test_too_few_agents_for_krum_are_refused_before_anything_starts(deployment, capsys):
    assert deployment.main(["--agents", "3", "--f", "1"]) == 2
    assert "krum with f = 1 needs at least 5 updates per round" in capsys.readouterr().err
    assert deployment.main(["--agents", "2", "--f", "0"]) == 2
    assert "at least 3 agents" in capsys.readouterr().err
