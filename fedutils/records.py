"""What a run leaves behind: per-round records, typed, with their JSON form.

A run is a list of :class:`RoundRecord` (one per round, each holding one
:class:`AgentRecord` per selected agent and the server's :class:`CheckRecord`
verdicts) plus the :class:`~fedutils.config.ExperimentConfig` that produced it.
The on-disk cache of finished runs is :mod:`fedutils.store`; tables and
frames of runs are :mod:`fedutils.analysis`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fedutils._version import __version__
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError
from fedutils.models import build_model, load_flat_parameters
from fedutils.run_options import EngineName
from fedutils.training import TargetOutcome


@dataclass(frozen=True)
class AgentRecord:
    """One agent's update in one round.

    Attributes:
        agent_id: the agent's index.
        is_malicious: whether the agent is an attacker.
        update_norm: ‖δ_i‖₂ over all parameters.
        val_accuracy: validation accuracy of w_G^{t−1} + δ_i (what the server's
            accuracy check sees), or ``None`` when agent evaluation is off.
        target_confidence: the first target's confidence in its target class
            under w_G^{t−1} + δ_i, or ``None`` when agent evaluation is off.
        aggregated: whether the server passed the update to its aggregation rule
            (``False`` when a check in filter mode left it out).
        selected: with a robust aggregation rule, whether the rule used the
            update (Krum's choice, Multi-Krum's and Bulyan's selections).
        coordinate_share: with a coordinate-wise rule (median, trimmed mean,
            Bulyan), the fraction of the step's coordinates taken from this update.
        clipped: with norm clipping, whether the update was scaled down.
        weight: with a rule that weighs the updates itself (FLTrust, FoolsGold), this update's share of the step.
        cluster: with a clustering rule (FLAME), the cluster it was put in (−1: noise).
    """

    agent_id: int
    is_malicious: bool
    update_norm: float
    val_accuracy: float | None
    target_confidence: float | None = None
    aggregated: bool = True
    selected: bool | None = None
    coordinate_share: float | None = None
    clipped: bool | None = None
    weight: float | None = None
    cluster: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the reports added since fedutils 0.3 (``weight``, ``cluster``) only when set, so
        the records of earlier rules read as they did."""
        out = dataclasses.asdict(self)
        return {k: v for k, v in out.items() if k not in ADDED_AGENT_REPORTS or v is not None}


ADDED_AGENT_REPORTS = ("weight", "cluster")
""":class:`AgentRecord` fields added in fedutils 0.3.3, written only when a rule reports them."""


@dataclass(frozen=True)
class CheckRecord:
    """One server-side check's verdict on one agent's update in one round (see :mod:`fedutils.checks`).

    Attributes:
        check: the check's name (``accuracy`` or ``distance``).
        agent_id: the agent whose update was inspected.
        is_malicious: whether that agent is the attacker (the check does not know).
        flagged: the update failed the check.
        statistic: the number compared with the threshold (accuracy gap; relative distance excess).
        threshold: γ or κ.
        measurements: what the statistic was computed from, by name.
    """

    check: str
    agent_id: int
    is_malicious: bool
    flagged: bool
    statistic: float
    threshold: float
    measurements: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundRecord:
    """The global model after round ``round`` and the updates that made it.

    ``target_confidence``, ``target_predicted`` and
    ``target_predicted_confidence`` describe the first target (the only one in
    the paper's main setting); ``targets`` holds all r of them and
    ``targets_hit`` counts those predicted as their target class.
    ``checks`` holds the server's verdicts (empty when no checks ran);
    ``dropped`` the ids of selected agents that sent no update (a real
    federation's clients may drop out; never in the simulator);
    ``server_state`` what a rule that remembers across rounds carried out
    of this round (:meth:`~fedutils.aggregators.RuleState.summary`; empty
    for the others); ``attack_success`` a trigger backdoor's attack success
    rate, the global model's accuracy on the stamped test images of the
    other classes (``None`` without one).
    """

    round: int
    val_accuracy: float
    val_loss: float
    targets: tuple[TargetOutcome, ...]
    agents: tuple[AgentRecord, ...]
    seconds: float
    checks: tuple[CheckRecord, ...] = ()
    dropped: tuple[int, ...] = ()
    server_state: dict[str, float] = field(default_factory=dict)
    attack_success: float | None = None

    @property
    def target_confidence(self) -> float:
        return self.targets[0].confidence

    @property
    def target_predicted(self) -> int:
        return self.targets[0].predicted

    @property
    def target_predicted_confidence(self) -> float:
        return self.targets[0].predicted_confidence

    @property
    def targets_hit(self) -> int:
        return sum(t.hit for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the primary-target fields first, then the details."""
        return (
            {
                "round": self.round,
                "val_accuracy": self.val_accuracy,
                "val_loss": self.val_loss,
                "target_confidence": self.target_confidence,
                "target_predicted": self.target_predicted,
                "target_predicted_confidence": self.target_predicted_confidence,
                "targets_hit": self.targets_hit,
                "seconds": self.seconds,
                "targets": [dataclasses.asdict(t) for t in self.targets],
                "agents": [a.to_dict() for a in self.agents],
                "checks": [dataclasses.asdict(c) for c in self.checks],
                "dropped": list(self.dropped),
            }
            | ({"server_state": dict(self.server_state)} if self.server_state else {})
            | ({} if self.attack_success is None else {"attack_success": self.attack_success})
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundRecord:
        return cls(
            round=data["round"],
            val_accuracy=data["val_accuracy"],
            val_loss=data["val_loss"],
            targets=tuple(TargetOutcome(**t) for t in data["targets"]),
            agents=tuple(AgentRecord(**a) for a in data["agents"]),
            seconds=data["seconds"],
            checks=tuple(CheckRecord(**c) for c in data.get("checks", ())),
            dropped=tuple(data.get("dropped", ())),
            server_state=dict(data.get("server_state", {})),
            attack_success=data.get("attack_success"),
        )


FAST_GPU_ARITHMETIC = "fast_gpu_arithmetic"
"""The key of a run's JSON that marks a run computed with fast GPU arithmetic (absent otherwise)."""


def run_kind(engine: EngineName | str, fast_gpu_arithmetic: bool = False) -> str:
    """What the run cache keys a run by besides its configuration: its engine, marked when the run used fast GPU
    arithmetic (``"simulator"``, ``"flower"``, ``"simulator+fast-gpu-arithmetic"``, ...)."""
    return EngineName(engine).value + ("+fast-gpu-arithmetic" if fast_gpu_arithmetic else "")


@dataclass(frozen=True)
class Reply:
    """One reply a server got from a node, as an engine that runs its agents elsewhere keeps it (Flower).

    Attributes:
        node_id: the node that sent it.
        agent_id: the agent that node said it is (asked before the first round).
        offline: whether it answered "offline" (its agent dropped out of the round).
        record_bytes: the size in bytes of each record the reply carried.
    """

    node_id: int
    agent_id: int
    offline: bool
    record_bytes: dict[str, int]


@dataclass(frozen=True)
class RunSummary:
    """Headline numbers of a run.

    Attributes:
        rounds: rounds run.
        final_accuracy: validation accuracy of the final global model.
        rounds_to_stop: first round at the stopping accuracy (``None`` if never reached or no stop).
        seconds_per_round: mean wall-clock time of a round.
        seconds: wall-clock time of all rounds.
    """

    rounds: int
    final_accuracy: float
    rounds_to_stop: int | None
    seconds_per_round: float
    seconds: float


@dataclass
class RunResult:
    """A finished run: its configuration, its per-round records and its final model.

    Attributes:
        config: the experiment that produced it (its plain form, the cache key, is :attr:`config_dict`).
        records: one record per round, in order.
        final_params: the final global model as a flat vector (CPU), if kept.
        updates: for each round in the configuration's ``keep_updates``, the
            updates of that round's agents stacked in the order of its record's
            ``agents`` (CPU, shape ``(agents, parameters)``).
        from_cache: whether this result was read from the cache instead of computed.
        engine: the engine that ran it (:class:`~fedutils.run_options.EngineName`); part of its cache key
            when it is not the simulator, since such a run also holds a transcript.
        fast_gpu_arithmetic: whether it ran on CUDA with TF32 and cuDNN's autotuning
            (``RunOptions(gpu_arithmetic="fast")``): other numbers than a reproducible run's, so part of its
            cache key too.
        transcript: what the engine's server was sent beyond the records, per round, where it keeps it
            (Flower: one :class:`Reply` per reply); stored with the run.
    """

    config: ExperimentConfig
    records: list[RoundRecord]
    final_params: torch.Tensor | None = None
    updates: dict[int, torch.Tensor] = field(default_factory=dict, compare=False)
    from_cache: bool = field(default=False, compare=False)
    engine: EngineName = field(default=EngineName.SIMULATOR, compare=False)
    fast_gpu_arithmetic: bool = field(default=False, compare=False)
    transcript: Mapping[int, Sequence[Reply]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.config, Mapping):  # fedutils 0.2 kept the plain dict
            self.config = ExperimentConfig.from_dict(dict(self.config))
        if not isinstance(self.config, ExperimentConfig):
            raise ConfigError(f"a run's config must be an ExperimentConfig, got {self.config!r}.")

    @property
    def cache_kind(self) -> str:
        """The kind of run the cache keeps it as (:func:`run_kind`)."""
        return run_kind(self.engine, self.fast_gpu_arithmetic)

    @property
    def config_dict(self) -> dict[str, Any]:
        """The configuration's plain JSON form (:meth:`ExperimentConfig.to_dict`): what the run cache keys on."""
        return self.config.to_dict()

    @property
    def rounds(self) -> int:
        return len(self.records)

    @property
    def final_accuracy(self) -> float:
        return self.records[-1].val_accuracy

    @property
    def seconds(self) -> float:
        """Wall-clock time of all rounds (of the original computation, for cached runs)."""
        return sum(r.seconds for r in self.records)

    def global_model(self) -> nn.Module:
        """The final global model w_G^T as a network (on the CPU, eval mode), rebuilt from the kept parameters.

        Raises:
            ConfigError: the result holds no final parameters (a recorded run, for example).
        """
        if self.final_params is None:
            raise ConfigError("this result kept no final parameters; run the experiment (or fetch it from the cache).")
        model = build_model(self.config.model)
        with torch.no_grad():
            return load_flat_parameters(model, self.final_params).eval()

    def summary(self) -> RunSummary:
        """The headline numbers of the run."""
        stop = self.config.stop_accuracy
        return RunSummary(
            rounds=self.rounds,
            final_accuracy=self.final_accuracy,
            rounds_to_stop=None if stop is None else self.rounds_to_accuracy(stop),
            seconds_per_round=self.seconds / self.rounds,
            seconds=self.seconds,
        )

    def benign_and_malicious_updates(self, round_index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The benign updates of a kept round, stacked, and the malicious update (``None`` without an attacker)."""
        if round_index not in self.updates:
            kept = ", ".join(map(str, sorted(self.updates))) or "none"
            raise ConfigError(
                f"round {round_index}'s updates were not kept (kept rounds: {kept}); "
                "add it to the configuration's keep_updates."
            )
        agents = self.records[round_index - 1].agents
        malicious = [i for i, a in enumerate(agents) if a.is_malicious]
        benign = [i for i, a in enumerate(agents) if not a.is_malicious]
        stack = self.updates[round_index]
        return stack[benign], (stack[malicious[0]] if malicious else None)

    def attacker_rounds(self) -> list[int]:
        """The rounds in which a malicious agent was among the agents drawn (every round when C = 1)."""
        return [record.round for record in self.records if any(agent.is_malicious for agent in record.agents)]

    def rounds_to_accuracy(self, accuracy: float) -> int | None:
        """The first round whose global validation accuracy is at least ``accuracy``, else ``None``."""
        return next((r.round for r in self.records if r.val_accuracy >= accuracy), None)

    def rounds_to_confidence(self, confidence: float) -> int | None:
        """The first round whose global model gives the (first) target at least ``confidence`` in its target class."""
        return next((r.round for r in self.records if r.target_confidence >= confidence), None)

    def to_records(self) -> list[dict[str, Any]]:
        """The JSON form: a list of per-round objects."""
        return [r.to_dict() for r in self.records]

    def write_json(self, path: str | Path) -> None:
        """Write the per-round records (a JSON list) to ``path``."""
        Path(path).write_text(json.dumps(self.to_records(), indent=1))

    def to_json_dict(self) -> dict[str, Any]:
        """Configuration and records together (with the engine and its transcript for a run not on the
        simulator, and the mark of fast GPU arithmetic): enough to rebuild the result without its final model."""
        data: dict[str, Any] = {
            "fedutils_version": __version__,
            "config": self.config_dict,
            "records": self.to_records(),
        }
        if self.engine != EngineName.SIMULATOR:
            data["engine"] = EngineName(self.engine).value
        if self.fast_gpu_arithmetic:
            data[FAST_GPU_ARITHMETIC] = True
        if self.transcript:
            data["transcript"] = {
                str(round_index): [dataclasses.asdict(reply) for reply in replies]
                for round_index, replies in self.transcript.items()
            }
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any], final_params: torch.Tensor | None = None) -> RunResult:
        records = [RoundRecord.from_dict(r) for r in data["records"]]
        transcript = {
            int(round_index): [Reply(**reply) for reply in replies]
            for round_index, replies in data.get("transcript", {}).items()
        }
        engine = EngineName(data.get("engine", EngineName.SIMULATOR))
        fast = bool(data.get(FAST_GPU_ARITHMETIC, False))
        return cls(
            ExperimentConfig.from_dict(data["config"]),
            records,
            final_params,
            engine=engine,
            fast_gpu_arithmetic=fast,
            transcript=transcript,
        )

    @classmethod
    def read(cls, path: str | Path) -> RunResult:
        """A result saved with :meth:`save` (e.g. a recorded reference run)."""
        return cls.from_json_dict(json.loads(Path(path).read_text()))

    def save(self, path: str | Path) -> None:
        """Save configuration and records (not the final model) as JSON."""
        Path(path).write_text(json.dumps(self.to_json_dict(), indent=1))
