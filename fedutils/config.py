"""The configuration of one experiment, validated on construction.

An :class:`ExperimentConfig` says everything that determines a run's
numbers (data split, model, local training, server, seed); where the data
lives, which device runs it and whether progress is shown are not part of it.
Invalid values raise :class:`~fedutils.errors.ConfigError` with one sentence
naming the option and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fedutils.aggregators import Aggregator, ServerRule
from fedutils.attacks import AttackParams, attack_from_dict
from fedutils.checks import AccuracyCheck, CheckMode, DistanceCheck, ServerChecks
from fedutils.data import adult, fashion_mnist
from fedutils.data.targets import PAPER_TARGET, Target, check_target
from fedutils.deprecation import warn_renamed
from fedutils.errors import ConfigError
from fedutils.models import ModelName
from fedutils.options import Choice, normalise_fields
from fedutils.training import BatchOrder


class DatasetName(Choice):
    """Datasets an experiment can use."""

    FASHION_MNIST = fashion_mnist.NAME
    ADULT = adult.NAME


class PartitionScheme(Choice):
    """How the training set is split among agents: the paper's IID shards or Dirichlet(α)."""

    IID = "iid"
    DIRICHLET = "dirichlet"


TRAIN_SIZES = {DatasetName.FASHION_MNIST: fashion_mnist.TRAIN_SIZE, DatasetName.ADULT: adult.TRAIN_SIZE}
TEST_SIZES = {DatasetName.FASHION_MNIST: fashion_mnist.TEST_SIZE, DatasetName.ADULT: adult.TEST_SIZE}
NUM_CLASSES = {DatasetName.FASHION_MNIST: len(fashion_mnist.CLASS_NAMES), DatasetName.ADULT: len(adult.CLASS_NAMES)}
MODELS_FOR = {
    DatasetName.FASHION_MNIST: (ModelName.MODEL_A, ModelName.FAST_CNN),
    DatasetName.ADULT: (ModelName.CENSUS_MLP, ModelName.CENSUS_MLP_TWO_LAYERS),
}
"""The networks that take each dataset's inputs."""


OMITTED_WHEN_OFF: dict[str, Any] = {"aggregator": None, "checks": None, "dropout": 0.0}
"""Options added after the results schema settled, with their value when off: written only when set, so that
runs computed before they existed keep their cache keys."""


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that determines a federated run's results.

    The defaults are the paper's Fashion-MNIST setting (SPEC §A, §4).

    Attributes:
        dataset: the dataset.
        model: the network.
        num_agents: k, the number of agents.
        participation: C, the fraction of agents selected each round (k·C of them).
        local_epochs: E, local passes over an agent's data per round (may be fractional).
        batch_size: B.
        learning_rate: Adam's step size for local training.
        batch_order: the authors' fixed sequential order or shuffled.
        max_rounds: T, the most rounds to run.
        stop_accuracy: stop once the global validation accuracy reaches this
            fraction; ``None`` runs all T rounds.
        partition: IID shards of the paper's permutation, or Dirichlet(α).
        dirichlet_alpha: α of the Dirichlet partition (ignored for IID).
        partition_seed: seed of the split (the paper's 777), independent of ``seed``.
        samples_per_agent: use only the first n samples of each shard (for
            quick runs); ``None`` uses the whole shard.
        validation_samples: evaluate on the first n test examples; ``None`` uses all.
        targets: the adversarial objectives (test index → target class).
        evaluate_agents: record the validation accuracy (and target confidence)
            of w_G + δ_i for every agent.
        attack: the malicious agent's attack (see :mod:`fedutils.attacks`), or
            ``None`` for a federation of honest agents.
        aggregator: the server's aggregation (:mod:`fedutils.aggregators`): a
            :class:`~fedutils.aggregators.ServerRule` (pre-aggregators, a rule, the
            step) or just a rule (Krum, the coordinate-wise median, …), or ``None``
            for the paper's FedAvg.
        checks: the server's checks on every update (accuracy checking, distance
            ranges; :mod:`fedutils.checks`), observing or filtering, or ``None``
            for a server that aggregates what it receives unexamined (the paper's).
        dropout: the chance that a selected agent drops out of a round and sends
            nothing (drawn per round and agent from the run's seeded dropout
            stream, the same on every engine); the round goes on without it.
        keep_updates: rounds whose raw updates δ_i^t are kept in the result
            (for weight-update histograms and distance statistics, SPEC §6.2–6.3);
            each kept round costs k × (number of parameters) floats.
        seed: seeds initialisation, agent sampling, batch order and dropout.
    """

    dataset: DatasetName = DatasetName.FASHION_MNIST
    model: ModelName = ModelName.MODEL_A
    num_agents: int = 10
    participation: float = 1.0
    local_epochs: float = 5
    batch_size: int = 50
    learning_rate: float = 1e-3
    batch_order: BatchOrder = BatchOrder.SEQUENTIAL
    max_rounds: int = 40
    stop_accuracy: float | None = 0.91
    partition: PartitionScheme = PartitionScheme.IID
    dirichlet_alpha: float = 1.0
    partition_seed: int = 777
    samples_per_agent: int | None = None
    validation_samples: int | None = None
    targets: tuple[Target, ...] = field(default=(PAPER_TARGET,))
    evaluate_agents: bool = True
    attack: AttackParams | None = None
    aggregator: ServerRule | None = None
    checks: ServerChecks | None = None
    dropout: float = 0.0
    keep_updates: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.aggregator, Aggregator):  # a bare rule: the server runs it alone
            object.__setattr__(self, "aggregator", ServerRule(self.aggregator))
        normalise_fields(self)
        targets = tuple(t if isinstance(t, Target) else Target(*t) for t in self.targets)
        object.__setattr__(self, "targets", targets)
        self._validate()
        object.__setattr__(self, "keep_updates", tuple(sorted(set(self.keep_updates))))

    def _validate(self) -> None:
        train_size = TRAIN_SIZES[self.dataset]
        test_size = TEST_SIZES[self.dataset]
        if self.model not in MODELS_FOR[self.dataset]:
            allowed = ", ".join(m.value for m in MODELS_FOR[self.dataset])
            raise ConfigError(f"model {self.model.value} does not take {self.dataset.value} inputs; use {allowed}.")
        _require_int(self.num_agents, "k (num_agents)", 1, train_size)
        if not 0 < self.participation <= 1:
            raise ConfigError(f"C (participation) must be in (0, 1], got {self.participation}.")
        if int(self.participation * self.num_agents) < 1:
            raise ConfigError(
                f"C (participation) = {self.participation} selects no agent out of k = {self.num_agents}; "
                f"use C of at least {1 / self.num_agents:g}."
            )
        if not self.local_epochs > 0:
            raise ConfigError(f"E (local_epochs) must be positive, got {self.local_epochs}.")
        _require_int(self.batch_size, "B (batch_size)", 1, None)
        shard = self.samples_per_agent or train_size // self.num_agents
        if (self.partition is PartitionScheme.IID or self.samples_per_agent) and self.batch_size > shard:
            raise ConfigError(
                f"B (batch_size) = {self.batch_size} is larger than each agent's {shard} samples; "
                "use a smaller batch size or fewer agents."
            )
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}.")
        _require_int(self.max_rounds, "T (max_rounds)", 1, None)
        if self.stop_accuracy is not None and not 0 < self.stop_accuracy <= 1:
            raise ConfigError(f"stop_accuracy must be a fraction in (0, 1] or None, got {self.stop_accuracy}.")
        if not self.dirichlet_alpha > 0:
            raise ConfigError(f"dirichlet_alpha must be positive, got {self.dirichlet_alpha}.")
        if self.samples_per_agent is not None:
            _require_int(self.samples_per_agent, "samples_per_agent", 1, train_size // self.num_agents)
        reserved = self.server_reserved_samples
        if reserved >= test_size:
            option = "held_out_samples" if reserved == self._checks_reserved else "the rule's root set"
            raise ConfigError(f"{option} must be below the test split's {test_size} examples, got {reserved}.")
        if self.validation_samples is not None:
            _require_int(self.validation_samples, "validation_samples", 1, test_size - reserved)
        if self.attack is not None:
            if not isinstance(self.attack, AttackParams):
                raise ConfigError(f"attack must be an attack's options (fedutils.attacks), got {self.attack!r}.")
            trigger = getattr(self.attack, "trigger", None)
            if trigger is not None and self.dataset is not DatasetName.FASHION_MNIST:
                raise ConfigError(
                    f"attack {self.attack.name} stamps a pixel trigger, which needs images (fashion_mnist); "
                    f"got dataset {self.dataset.value}."
                )
            if trigger is not None and trigger.target_class >= NUM_CLASSES[self.dataset]:
                raise ConfigError(
                    f"the trigger's target_class must be below the {NUM_CLASSES[self.dataset]} classes, "
                    f"got {trigger.target_class}."
                )
            if self.attack.attackers >= self.num_agents:
                raise ConfigError(
                    f"attackers (f) must leave at least one honest agent among k = {self.num_agents}, "
                    f"got {self.attack.attackers}."
                )
            if self.attack.malicious_agent is not None and self.attack.malicious_agent >= self.num_agents:
                raise ConfigError(
                    f"malicious_agent must be between 0 and k − 1 = {self.num_agents - 1}, "
                    f"got {self.attack.malicious_agent}."
                )
        if self.aggregator is not None and not isinstance(self.aggregator, ServerRule):
            raise ConfigError(
                f"aggregator must be a rule or a ServerRule (fedutils.aggregators), got {self.aggregator!r}."
            )
        if self.checks is not None:
            self._validate_checks()
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be a probability from 0 up to (not including) 1; got {self.dropout!r}.")
        self._validate_aggregator_size()
        if not isinstance(self.keep_updates, (tuple, list)):
            raise ConfigError(f"keep_updates must be a tuple of round numbers, got {self.keep_updates!r}.")
        for kept in self.keep_updates:
            _require_int(kept, "keep_updates (each a round number)", 1, self.max_rounds)
        _require_int(self.seed, "seed", 0, None)
        _require_int(self.partition_seed, "partition_seed", 0, None)
        if not self.targets:
            raise ConfigError("targets must contain at least one INDEX:CLASS pair.")
        for target in self.targets:
            check_target(target, test_size, NUM_CLASSES[self.dataset])

    def _validate_checks(self) -> None:
        if not isinstance(self.checks, ServerChecks):
            raise ConfigError(f"checks must be a fedutils.checks.ServerChecks, got {self.checks!r}.")
        needed = 3 if DistanceCheck.name in self.checks.names else 2
        if self.agents_per_round < needed:
            raise ConfigError(
                f"the server's checks compare each update with the others, so they need at least {needed} agents "
                f"per round; k·C = {self.agents_per_round}."
            )

    def _validate_aggregator_size(self) -> None:
        if self.aggregator is None:
            return
        needed = self.aggregator.minimum_updates()
        name = self.aggregator.name
        if self.agents_per_round < needed:
            options = ", ".join(
                f"{k} = {v}"
                for k, v in self.aggregator.rule.options().items()
                if isinstance(v, int) and not isinstance(v, bool)
            )
            raise ConfigError(
                f"{name}{f' with {options}' if options else ''} needs at least {needed} updates per round; "
                f"k·C = {self.agents_per_round}."
            )
        if self.checks is None or needed == 1:
            return
        if self.checks.mode is CheckMode.FILTER:
            raise ConfigError(
                f"checks in filter mode cannot be combined with {name}: dropping updates could leave fewer than "
                f"the {needed} it needs; observe with the checks, or filter with FedAvg."
            )
        if AccuracyCheck.name in self.checks.names and self.agents_per_round - 1 < needed:
            raise ConfigError(
                f"the accuracy check aggregates all updates but one, and {name} needs {needed}; "
                f"k·C = {self.agents_per_round} is too few."
            )

    @property
    def reported_validation_size(self) -> int:
        """How many test examples the reported validation accuracy uses (the server's held-out ones excluded)."""
        return self.validation_samples or TEST_SIZES[self.dataset] - self.server_reserved_samples

    @property
    def _checks_reserved(self) -> int:
        return self.checks.reserved_samples if isinstance(self.checks, ServerChecks) else 0

    @property
    def server_reserved_samples(self) -> int:
        """The last test examples set aside as the server's own data: an accuracy check's held-out examples or
        a rule's root set (FLTrust), whichever is larger — both are drawn from the same reserve."""
        rule = self.aggregator.reserved_samples() if isinstance(self.aggregator, ServerRule) else 0
        return max(self._checks_reserved, rule)

    @property
    def agents_per_round(self) -> int:
        """k·C, the number of agents selected each round (``int(C·k)`` as in the authors' code)."""
        return int(self.participation * self.num_agents)

    @property
    def malicious_agent(self) -> int | None:
        """The attacker's index (the last agent unless the attack names one), or ``None`` without an attack."""
        if self.attack is None:
            return None
        return self.num_agents - 1 if self.attack.malicious_agent is None else self.attack.malicious_agent

    @property
    def malicious_agents(self) -> tuple[int, ...]:
        """The attackers' indices: the paper's one (:attr:`malicious_agent`), or the last f of f colluding
        attackers; empty without an attack."""
        if self.attack is None:
            return ()
        if self.attack.attackers == 1:
            return (self.malicious_agent,)
        return tuple(range(self.num_agents - self.attack.attackers, self.num_agents))

    @property
    def aggregation_weight(self) -> float:
        """α_i = 1/k, each agent's FedAvg weight (equal shards)."""
        return 1.0 / self.num_agents

    def __getitem__(self, name: str) -> Any:
        """fedutils 0.2's ``run.config["name"]`` (a plain dict then): the option's plain JSON value."""
        warn_renamed('run.config["name"]', "run.config.name (run.config is an ExperimentConfig)")
        return self.to_dict()[name]

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with some options changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}; allowed: {', '.join(option_names())}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (enums as strings, targets as [index, class] pairs)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                value = value.value
            elif f.name == "targets":
                value = [[t.index, t.target_class] for t in value]
            elif f.name == "attack" and value is not None:
                value = value.to_dict()
            elif f.name in OMITTED_WHEN_OFF:
                if value == OMITTED_WHEN_OFF[f.name]:
                    continue  # absent when off, so runs from before the option existed keep their cache keys
                value = value.to_dict() if hasattr(value, "to_dict") else value
            elif f.name == "keep_updates":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        values = dict(data)
        values["targets"] = tuple(Target(*t) for t in data["targets"]) if "targets" in data else (PAPER_TARGET,)
        values["keep_updates"] = tuple(data.get("keep_updates", ()))
        if values.get("attack") is not None:
            values["attack"] = attack_from_dict(values["attack"])
        if values.get("checks") is not None:
            values["checks"] = ServerChecks.from_dict(values["checks"])
        if values.get("aggregator") is not None:
            values["aggregator"] = ServerRule.from_dict(values["aggregator"])
        return cls(**values)


def option_names() -> list[str]:
    """Names of all configuration options."""
    return [f.name for f in dataclasses.fields(ExperimentConfig)]


def _require_int(value: Any, name: str, low: int, high: int | None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name} must be an integer {bound}, got {value!r}.")
