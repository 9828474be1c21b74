"""A real Flower deployment on this machine: explicit boosting against a Krum server, one SuperNode per agent.

Flower's simulation engine (``--engine flower``) runs every agent in one
process tree on one machine. A deployment is what runs on several machines:

* one **SuperLink** (``flower-superlink``), the hub: it holds the runs, and its
  SuperExec starts the ``ServerApp`` — fedutils' server
  (:mod:`fedutils.flower.server`): selection, Krum, evaluation, records;
* one **SuperNode** per agent (``flower-supernode``), each on the agent's own
  machine: it connects to the SuperLink and starts the ``ClientApp``
  (:mod:`fedutils.flower.client`) for each message, which trains that agent
  (its node config's ``partition-id`` says which; the last one is the
  attacker) and sends back its update;
* the **Flower CLI** (``flwr run``), which sends the Flower App of
  ``fedutils/flower/app`` (its ``pyproject.toml`` names the two apps and the run
  config) to the SuperLink's Control API and starts the run.

This script starts all of them here, as separate processes talking to each
other over the network (HTTP on 127.0.0.1 in Flower 1.42, which moved the
Fleet and Control APIs from gRPC to one HTTP port), runs the attack for a few
rounds, prints what Krum did each round, and tears every process down (also on
Ctrl-C or an error). It also prints the same commands as a recipe for several
machines. Every machine needs fedutils installed (``pip install
'fedutils[flower]'``): the Flower App only names fedutils' apps, and nothing is
installed at run time (the SuperLink runs with
``--disable-runtime-dependency-installation``), so it all works offline.

The ServerApp writes the run's records (``RunResult.save``) to the run
config's ``result-file`` *on the SuperLink's machine*; ``flwr run`` sends back
only the run's log (``--stream``), not the records.

Usage:
  python scripts/flower_deployment.py                     # 5 agents, Krum f = 1, 3 rounds
  python scripts/flower_deployment.py --agents 3 --f 0 --rounds 2 --out krum_boosting.json --keep-logs logs/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from fedutils.aggregators import Krum
from fedutils.attacks import ExplicitBoosting
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError
from fedutils.flower.protocol import DATA_ROOT as NODE_DATA_ROOT
from fedutils.flower.protocol import PARTITION_ID
from fedutils.flower.server import DATA_ROOT, DEVICE, EXPERIMENT_FILE, RESULT_FILE
from fedutils.parallel import available_cores
from fedutils.presets import preset
from fedutils.records import RunResult

APP_DIR = Path(__file__).resolve().parent / "app"
"""The Flower App that ``flwr run`` bundles and sends: only a ``pyproject.toml`` naming fedutils' apps."""
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds the ``fedutils`` package (put on the processes' ``PYTHONPATH``)."""
PRESET = "smoke"
KRUM = "krum"
LOCALHOST = "127.0.0.1"
CONNECTION = "fedutils-local"
"""The name of the SuperLink connection in the Flower CLI's configuration file."""
FLOWER_CONFIG_FILE = "config.toml"
"""The Flower CLI's configuration file in ``$FLWR_HOME``, where Flower 1.42 keeps SuperLink connections."""

SUPERLINK = "flower-superlink"
SUPERNODE = "flower-supernode"
FLWR = "flwr"

DEFAULT_AGENTS = 5
MIN_AGENTS = 3
DEFAULT_ROUNDS = 3
DEFAULT_F = 1
DEFAULT_TIMEOUT = 900.0
STARTUP_SECONDS = 60.0
"""How long the SuperLink may take to accept connections."""
STOP_SECONDS = 5.0
"""How long a process may take to stop after SIGTERM before it is killed."""
POLL_SECONDS = 0.2
LOG_TAIL_LINES = 15
RUN_ID = re.compile(r"Successfully started run (\d+)")


class DeploymentError(RuntimeError):
    """A process of the deployment failed, or the run did not finish in time."""


@dataclass
class Started:
    """A process this script started: its name, command line, log file and handle."""

    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes]
    log_handle: IO[bytes]

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the process's log."""
        with contextlib.suppress(OSError):
            self.log_handle.flush()
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"

    def failure(self, what: str) -> DeploymentError:
        """A one-sentence error naming this process and its log, followed by the log's tail."""
        return DeploymentError(f"{self.name} {what}; see {self.log}, which ends with:\n{self.tail()}")


@dataclass
class Outcome:
    """A finished deployment run.

    Attributes:
        result: the run's records, as the ServerApp saved them.
        commands: every command line started, in order (SuperLink, SuperNodes, ``flwr run``).
        supernodes: how many SuperNode processes were started (one per agent).
        work_dir: where the experiment, the records and the logs were (removed unless kept).
    """

    result: RunResult
    commands: list[list[str]]
    supernodes: int
    work_dir: Path


@dataclass
class Deployment:
    """The processes of a deployment on this machine; :meth:`stop` ends them all, children included."""

    env: dict[str, str]
    started: list[Started] = field(default_factory=list)

    def start(self, name: str, command: list[str], log: Path, flwr_home: Path | None = None) -> Started:
        """Start ``command`` as its own process group, its output to ``log``."""
        env = dict(self.env)
        if flwr_home is not None:
            flwr_home.mkdir(parents=True, exist_ok=True)
            env["FLWR_HOME"] = str(flwr_home)
        handle = log.open("wb")
        try:
            process = subprocess.Popen(
                command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
        except OSError as error:
            handle.close()
            raise DeploymentError(f"could not start {name} ({shlex.join(command)}): {error}.") from error
        started = Started(name, command, log, process, handle)
        self.started.append(started)
        return started

    def check_alive(self, *, except_for: Started | None = None) -> None:
        """Raise if a process of the deployment (other than ``except_for``) has exited."""
        for started in self.started:
            if started is not except_for and started.process.poll() is not None:
                raise started.failure(f"exited early with code {started.process.returncode}")

    def stop(self) -> None:
        """SIGTERM every process started and every process they started, SIGKILL what is left after a while."""
        pids: list[int] = []
        for started in reversed(self.started):
            if started.process.poll() is None:
                pids += _descendants(started.process.pid)
        for started in reversed(self.started):
            if started.process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(started.process.pid, signal.SIGTERM)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for started in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            if started.process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(started.process.pid, signal.SIGKILL)
                started.process.wait()
            started.log_handle.close()
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux's /proc; elsewhere none, and Flower's own processes notice that their
    parent has gone and stop)."""
    parent_of: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name in parentheses may hold spaces: the parent pid is the second field after it.
            parent_of[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parent_of.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def experiment_config(agents: int, rounds: int, f: int, boost: float | None, seed: int) -> ExperimentConfig:
    """The smoke preset with ``agents`` agents for ``rounds`` rounds, the last agent boosting explicitly, the
    server aggregating with Krum for ``f`` Byzantine agents.

    Raises:
        ConfigError: too few agents for Krum with this f (it needs n ≥ 2f + 3), or another invalid option.
    """
    if agents < MIN_AGENTS:
        raise ConfigError(f"a deployment needs at least {MIN_AGENTS} agents (SuperNodes); got {agents}.")
    return preset(
        PRESET,
        num_agents=agents,
        max_rounds=rounds,
        seed=seed,
        attack=ExplicitBoosting(boost=boost),
        aggregator=Krum(f=f),
    )


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that are free now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOCALHOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def choose_ports(agents: int, base: int | None) -> tuple[int, list[int]]:
    """The SuperLink's port and each SuperNode's ClientApp port: ``base``, ``base + 1``, … or free ones."""
    if base is None:
        superlink, *supernodes = free_ports(agents + 1)
        return superlink, supernodes
    if not 1024 <= base <= 65535 - agents:
        raise ConfigError(f"--ports must leave room for {agents + 1} ports between 1024 and 65535; got {base}.")
    return base, [base + 1 + i for i in range(agents)]


def toml_string(value: str) -> str:
    """``value`` as a TOML string, as Flower's ``--run-config`` and ``--node-config`` parse them."""
    return json.dumps(value)


def superlink_command(port: int, host: str = LOCALHOST) -> list[str]:
    """The SuperLink: Fleet, Control and Runtime APIs on one port, apps run from the installed packages."""
    return [
        SUPERLINK, "--insecure", "--host", host, "--port", str(port), "--disable-runtime-dependency-installation",
    ]  # fmt: skip


def supernode_command(agent: int, superlink: str, port: int, data_root: str | None) -> list[str]:
    """The SuperNode that is agent ``agent``: connects to ``superlink`` (host:port), serves its ClientApp on
    ``port``."""
    node_config = f"{PARTITION_ID}={agent}"
    if data_root:
        node_config += f" {NODE_DATA_ROOT}={toml_string(data_root)}"
    return [
        SUPERNODE, "--insecure", "--superlink", superlink, "--host", LOCALHOST, "--port", str(port),
        "--node-config", node_config,
    ]  # fmt: skip


def run_command(app: Path, connection: str, run_config: dict[str, str]) -> list[str]:
    """``flwr run``: bundle ``app``, send it to the SuperLink of ``connection`` and stream the run's log until
    it finishes."""
    overrides = " ".join(f"{key}={toml_string(value)}" for key, value in run_config.items())
    return [FLWR, "run", str(app), connection, "--run-config", overrides, "--stream"]


def connection_section(name: str, address: str) -> str:
    """A SuperLink connection, ``name``, as a table of the Flower CLI's configuration file."""
    return f'[superlink.{name}]\naddress = "{address}"\ninsecure = true\n'


def connection_toml(name: str, address: str) -> str:
    """The Flower CLI's configuration file with one SuperLink connection, ``name``, the default."""
    return f'[superlink]\ndefault = "{name}"\n\n{connection_section(name, address)}'


def child_environment(agents: int) -> dict[str, str]:
    """The environment of the Flower processes: this interpreter's console scripts first on the PATH (the
    SuperLink starts ``flower-superexec`` from it), this fedutils importable, no telemetry or update checks,
    and the processes sharing this machine's cores (one torch thread each when the agents outnumber them)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    package_root = str(PACKAGE_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    env.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // agents)))
    return env


def wait_for_port(started: Started, port: int, deadline: float) -> None:
    """Wait until something accepts connections on ``port`` of this machine, while ``started`` runs."""
    while True:
        with contextlib.suppress(OSError), socket.create_connection((LOCALHOST, port), timeout=1.0):
            return
        if started.process.poll() is not None:
            raise started.failure(f"exited with code {started.process.returncode} before listening on port {port}")
        if time.monotonic() > deadline:
            raise started.failure(f"did not listen on port {port} within {STARTUP_SECONDS:g} s")
        time.sleep(POLL_SECONDS)


def read_result(path: Path) -> RunResult | None:
    """The records the ServerApp saved at ``path``, or ``None`` if there are none (yet)."""
    try:
        return RunResult.from_json_dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def run_status(deployment: Deployment, run_log: Path, flwr_home: Path) -> str:
    """What the SuperLink says about the run ``flwr run`` started (``flwr ls``), for an error message."""
    match = RUN_ID.search(run_log.read_text(errors="replace")) if run_log.exists() else None
    if match is None:
        return "flwr run did not start a run"
    command = [FLWR, "ls", CONNECTION, "--run-id", match.group(1), "--format", "json"]
    env = {**deployment.env, "FLWR_HOME": str(flwr_home)}
    try:
        listed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
        (run,) = json.loads(listed.stdout)["runs"]
    except (subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return f"run {match.group(1)}'s status is unknown (flwr ls failed)"
    return f"run {match.group(1)} is {run.get('status')} ({run.get('status-details')})"


def run_deployment(
    config: ExperimentConfig,
    *,
    data_root: str | None = None,
    device: str = "cpu",
    base_port: int | None = None,
    out: Path | None = None,
    keep_logs: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    app: Path = APP_DIR,
    echo: bool = True,
) -> Outcome:
    """Run ``config`` on a SuperLink and one SuperNode per agent, each a process of this machine.

    Args:
        config: the experiment.
        data_root: the dataset's folder, for the server and every SuperNode (``None``: the loader's default).
        device: where the server evaluates and asks the agents to train.
        base_port: the SuperLink's port, the SuperNodes' ClientApp ports after it (``None``: free ports).
        out: where to copy the records (``RunResult.save``'s JSON), if anywhere.
        keep_logs: a folder to keep the logs, the Flower homes, the experiment and the records in; without it,
            a temporary folder, removed when the run succeeds (kept, and named, when it fails).
        timeout: seconds the whole deployment may take.
        app: the Flower App folder ``flwr run`` sends.
        echo: print each command as it starts.

    Raises:
        DeploymentError: a process failed, or the run did not finish within ``timeout`` (the message names the
            process and ends with its log's tail).
    """
    deadline = time.monotonic() + timeout
    if keep_logs is not None:
        keep_logs.mkdir(parents=True, exist_ok=True)
    work_dir = (keep_logs or Path(tempfile.mkdtemp(prefix="fedutils-flower-"))).resolve()
    superlink_port, node_ports = choose_ports(config.num_agents, base_port)
    superlink_address = f"{LOCALHOST}:{superlink_port}"
    experiment_file = work_dir / "experiment.json"
    experiment_file.write_text(json.dumps(config.to_dict(), indent=1, sort_keys=True))
    result_file = work_dir / "result.json"
    result_file.unlink(missing_ok=True)
    cli_home = work_dir / "flwr-cli"
    cli_home.mkdir(parents=True, exist_ok=True)
    (cli_home / FLOWER_CONFIG_FILE).write_text(connection_toml(CONNECTION, superlink_address))
    run_config = {EXPERIMENT_FILE: str(experiment_file), RESULT_FILE: str(result_file), DEVICE: device}
    if data_root:
        run_config[DATA_ROOT] = str(Path(data_root).expanduser().resolve())
    node_root = run_config.get(DATA_ROOT)

    deployment = Deployment(child_environment(config.num_agents))
    succeeded = False

    def launch(name: str, command: list[str], log: str, home: Path) -> Started:
        if echo:
            print(f"$ {shlex.join(command)}    # {name}, log: {work_dir / log}", flush=True)
        return deployment.start(name, command, work_dir / log, home)

    try:
        superlink = launch("the SuperLink", superlink_command(superlink_port), "superlink.log", work_dir / "superlink")
        wait_for_port(superlink, superlink_port, min(deadline, time.monotonic() + STARTUP_SECONDS))
        for agent, port in enumerate(node_ports):
            command = supernode_command(agent, superlink_address, port, node_root)
            launch(f"SuperNode {agent}", command, f"supernode-{agent}.log", work_dir / f"supernode-{agent}")
        runner = launch("flwr run", run_command(app, CONNECTION, run_config), "flwr-run.log", cli_home)
        while runner.process.poll() is None:
            deployment.check_alive(except_for=runner)
            if time.monotonic() > deadline:
                raise runner.failure(f"did not see the run finish within {timeout:g} s")
            time.sleep(POLL_SECONDS)
        result = read_result(result_file)
        if result is None:
            status = run_status(deployment, runner.log, cli_home)
            raise runner.failure(f"ended (code {runner.process.returncode}) without the records: {status}")
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            result.save(out)
        succeeded = True
        return Outcome(
            result=result,
            commands=[started.command for started in deployment.started],
            supernodes=sum(started.command[0] == SUPERNODE for started in deployment.started),
            work_dir=work_dir,
        )
    except DeploymentError as error:
        if keep_logs is None:
            raise DeploymentError(f"{error}\n(logs kept in {work_dir})") from None
        raise
    finally:
        deployment.stop()
        if succeeded and keep_logs is None:
            shutil.rmtree(work_dir, ignore_errors=True)


def round_table(result: RunResult) -> pd.DataFrame:
    """Per round: the global model's validation accuracy and target confidence, and whom Krum chose."""
    rows = {}
    for record in result.records:
        attacker = next((agent for agent in record.agents if agent.is_malicious), None)
        rows[record.round] = {
            "val_accuracy": record.val_accuracy,
            "target_confidence": record.target_confidence,
            "krum_chose_agent": ", ".join(str(agent.agent_id) for agent in record.agents if agent.selected),
            "attacker_chosen": "–" if attacker is None else ("yes" if attacker.selected else "no"),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("round")


def recipe(config: ExperimentConfig, data_root: str | None, device: str) -> str:
    """The same deployment on several machines, as commands to type (placeholders in angle brackets)."""
    link = "<superlink-host>:9100"
    remote_data = data_root or "<dataset folder>"
    supernode = shlex.join([SUPERNODE, "--insecure", "--superlink", link, "--node-config"])
    run_config = {EXPERIMENT_FILE: "<absolute path>/experiment.json", RESULT_FILE: "<absolute path>/result.json"}
    run_config[DEVICE] = device
    if data_root:
        run_config[DATA_ROOT] = data_root
    lines = [
        "On several machines (every one with `pip install 'fedutils[flower]'` and the dataset):",
        "  1. On the SuperLink's machine, listening on all interfaces:",
        f"     {shlex.join(superlink_command(9100, host='0.0.0.0'))}",
        f"  2. On the machine of agent i, for i = 0 … {config.num_agents - 1} (agent {config.malicious_agent} is the"
        " attacker):",
        f"     {supernode} '{PARTITION_ID}=i {NODE_DATA_ROOT}={toml_string(remote_data)}'",
        "  3. Put the experiment (this script's experiment.json, ExperimentConfig.to_dict() as JSON) on the"
        " SuperLink's machine.",
        f"  4. Where you submit from (fedutils installed too: `flwr run` checks that the apps import), add to"
        f" ~/.flwr/{FLOWER_CONFIG_FILE}:",
        *(f"       {line}" for line in connection_section("fedutils", link).splitlines()),
        "     and run, from a checkout of fedutils:",
        f"     {shlex.join(run_command(APP_DIR, 'fedutils', run_config))}",
        "  5. The records are in result.json on the SuperLink's machine (flwr run streams only the log).",
        "  --insecure sends everything unencrypted: on an untrusted network give the SuperLink --ssl-certfile,"
        " --ssl-keyfile, --ssl-ca-certfile and the SuperNodes --root-certificates instead.",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so that the processes are torn down either way (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\nUsage:")[0],
        epilog=(
            "Krum assumes f Byzantine agents and needs n ≥ 2f + 3 updates per round: 3 agents allow f = 0, "
            "5 agents f = 1.\nExample: python scripts/flower_deployment.py --agents 3 --f 0 --rounds 2 --out run.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--agents",
        type=int,
        default=DEFAULT_AGENTS,
        help="agents, one SuperNode each, at least 3 (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="federated rounds (default: %(default)s)")
    parser.add_argument(
        "--f", type=int, default=DEFAULT_F, help="the Byzantine agents Krum assumes (default: %(default)s)"
    )
    parser.add_argument("--boost", type=float, default=None, help="the attacker's boost λ (default: k, which is 1/α_m)")
    parser.add_argument("--seed", type=int, default=0, help="the run seed (default: %(default)s)")
    parser.add_argument("--data-root", default=None, help="the Fashion-MNIST folder (default: the loader's search)")
    parser.add_argument(
        "--device", default="cpu", help="where the server evaluates and the agents train (default: %(default)s)"
    )
    parser.add_argument(
        "--ports", type=int, default=None, metavar="BASE",
        help="the SuperLink's port; SuperNode i serves its ClientApp on BASE + 1 + i (default: free ports)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None, help="write the run's records (RunResult JSON) here (default: not kept)"
    )
    parser.add_argument(
        "--keep-logs", type=Path, default=None, metavar="DIR",
        help="keep every process's log, the Flower homes, the experiment and the records in DIR",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds the whole run may take (default: %(default)g)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the deployment the command line asks for; print the commands, the per-round table and the recipe."""
    args = build_parser().parse_args(argv)
    try:
        config = experiment_config(args.agents, args.rounds, args.f, args.boost, args.seed)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{config.num_agents} SuperNodes (agent {config.malicious_agent} boosts explicitly), Krum with "
        f"f = {args.f}, {config.max_rounds} rounds:",
        flush=True,
    )
    try:
        with sigterm_as_interrupt():
            outcome = run_deployment(
                config,
                data_root=args.data_root,
                device=args.device,
                base_port=args.ports,
                out=args.out,
                keep_logs=args.keep_logs,
                timeout=args.timeout,
            )
    except DeploymentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: every process was stopped.", file=sys.stderr)
        return 130
    print()
    print(round_table(outcome.result).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out is not None:
        print(f"\nrecords: {args.out}")
    if args.keep_logs is not None:
        print(f"logs: {outcome.work_dir}")
    print()
    print(recipe(config, args.data_root, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
