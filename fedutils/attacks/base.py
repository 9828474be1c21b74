"""What every malicious agent shares: its parameters' common part, and the round protocol.

A malicious agent is an :class:`~fedutils.agents.Agent` like any other: the
federation calls :meth:`MaliciousAgent.compute_update` and learns nothing
else. Inside, the agent

1. estimates the other agents' update from what it saw before (if asked to),
2. crafts its update (each attack's :meth:`MaliciousAgent.craft`), on the
   same seeded stream a benign agent would use for that round,
3. remembers what it received and sent, for the next estimate.

The default threat model is the paper's (§2): one agent, no access to the
other agents' current updates, acting on the previous global state. Every
attack can also be carried out by f colluding agents (``attackers``) and
limited to a window of rounds (``active_rounds``); the attacks that craft
from the round's honest updates are in :mod:`~fedutils.attacks.tailored`.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import torch
from torch import nn

from fedutils.agents import LocalTraining, local_training_seed
from fedutils.attacks.estimation import Estimation, EstimationUse, OthersUpdateTracker
from fedutils.attacks.objectives import (
    AdversarialModel,
    Anchor,
    DistanceForm,
    adversarial_loss,
    adversarial_loss_at_share,
)
from fedutils.data.dataset import LabelledData
from fedutils.data.targets import TargetSet
from fedutils.errors import ConfigError
from fedutils.options import (
    cli_flag,
    normalise_fields,
    replace_options,
    require_non_negative,
    require_positive,
    require_positive_int,
)
from fedutils.seeding import torch_seeded

ADDED_ATTACK_OPTIONS: dict[str, Any] = {"attackers": 1, "active_rounds": None}
"""Options every attack gained after the results schema settled, with their default: written only when changed,
so that the paper's single-attacker runs keep their cache keys."""


@dataclass(frozen=True)
class AttackParams:
    """Options every attack has.

    Attributes:
        malicious_agent: index of the attacker; ``None`` means the last agent,
            k − 1, as in the authors' code (SPEC §2.1).
        attackers: f, how many agents attack: the paper's one, or f colluding agents — the last f, k − f … k − 1
            — as the attacks tailored to robust rules assume (their papers: about a fifth to a quarter of n).
        active_rounds: the first and last round (inclusive) in which the attackers attack; in the others they
            train as honest agents do, on the same seeded stream. ``None``: every round (the paper). A window
            followed by honest rounds measures how long a backdoor lasts (Neurotoxin's durability).
        estimation: whether to estimate the other agents' update (§3.2 of the paper).
        estimation_use: use the estimate as the optimisation's start point or as a correction.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    """One line on what the attack does, with its section (the command line's ``--help`` lists it)."""
    agent_class: ClassVar[type[MaliciousAgent]]
    """The agent that carries the attack out (set in each attack's module, below its agent class)."""

    malicious_agent: int | None = field(
        default=None, metadata=cli_flag("--malicious-agent", "index of the malicious agent; unset: k − 1", metavar="M")
    )
    attackers: int = field(
        default=1, metadata=cli_flag("--attackers", "f, how many agents attack (the last f; the paper: 1)", metavar="F")
    )
    active_rounds: tuple[int, int] | None = field(
        default=None,
        metadata=cli_flag(
            "--attack-rounds", "the first and last round the attackers attack; honest outside", metavar="T", count=2
        ),
    )
    estimation: Estimation = field(
        default=Estimation.NONE,
        metadata=cli_flag("--estimation", "estimate the other agents' update from the previous round"),
    )
    estimation_use: EstimationUse = field(
        default=EstimationUse.PRE,
        metadata=cli_flag(
            "--estimation-use", "pre: start the optimisation from w_G + the estimate; post: subtract it afterwards"
        ),
    )

    def __post_init__(self) -> None:
        normalise_fields(self)
        self.validate()

    def validate(self) -> None:
        """Check the attack's own options (subclasses extend this)."""
        if self.malicious_agent is not None and not (
            isinstance(self.malicious_agent, int) and self.malicious_agent >= 0
        ):
            raise ConfigError(f"malicious_agent must be a non-negative integer, got {self.malicious_agent!r}.")
        require_positive_int(self.attackers, "attackers (f, the number of attacking agents)")
        if self.active_rounds is not None:
            window = tuple(self.active_rounds)
            if len(window) != 2 or not all(isinstance(r, int) and not isinstance(r, bool) for r in window):
                raise ConfigError(f"active_rounds must be two round numbers (first, last), got {self.active_rounds!r}.")
            if not 1 <= window[0] <= window[1]:
                raise ConfigError(f"active_rounds must satisfy 1 ≤ first ≤ last, got {window}.")
            object.__setattr__(self, "active_rounds", window)
        if self.attackers > 1 and self.malicious_agent is not None:
            raise ConfigError(
                f"malicious_agent names the paper's single attacker; with attackers = {self.attackers} the attackers "
                "are the last f agents, so leave malicious_agent unset."
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, with the attack's name under ``"name"``."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values = {k: v for k, v in values.items() if not (k in ADDED_ATTACK_OPTIONS and v == ADDED_ATTACK_OPTIONS[k])}
        return {"name": self.name, **{k: _plain(v) for k, v in values.items()}}

    def active(self, round_index: int) -> bool:
        """Whether the attackers attack in round ``round_index`` (:attr:`active_rounds`)."""
        return self.active_rounds is None or self.active_rounds[0] <= round_index <= self.active_rounds[1]

    def replace(self, **changes: Any) -> AttackParams:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, self.name)


BOOST_FLAG = cli_flag("--boost", "boosting factor λ; unset: 1/α_m = k", metavar="λ")
"""The command-line flag of every boosted attack's λ (one flag, whatever an attack's default)."""


def _plain(value: Any) -> Any:
    """An option's plain JSON value: an enum's string, a nested option's dictionary, a tuple's list."""
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class BoostedAttack(AttackParams):
    """Options of an attack that boosts its malicious part.

    Attributes:
        boost: λ; ``None`` means 1/α_m (= k with equal shares), which undoes the
            server's averaging (§3.1 of the paper).
    """

    boost: float | None = field(default=None, metadata=BOOST_FLAG)

    def validate(self) -> None:
        super().validate()
        if self.boost is not None:
            require_positive(self.boost, "boost (λ)")


@dataclass(frozen=True)
class ConstrainedAttack(BoostedAttack):
    """Options of an attack that also trains on its own data and stays near an anchor (§4 of the paper).

    Attributes:
        rho: ρ, the weight of the distance term ρ‖δ − δ_cons‖² (the talk: 1e-4).
        epochs: passes over the attacker's own data (the talk: 10).
        anchor: δ_cons: the other agents' previous update or the attacker's own
            benign update. With ``others`` there is no distance term in the
            attacker's first round, when it has no estimate yet.
        distance: squared (the talk) or half-squared (the authors' code) norm.
    """

    rho: float = field(default=1e-4, metadata=cli_flag("--rho", "weight ρ of the distance term", metavar="ρ"))
    epochs: float = field(
        default=10, metadata=cli_flag("--mal-epochs", "passes over the attacker's own data", metavar="N")
    )
    anchor: Anchor = Anchor.OTHERS
    distance: DistanceForm = DistanceForm.SQUARED

    def validate(self) -> None:
        super().validate()
        require_non_negative(self.rho, "rho (ρ)")
        require_positive(self.epochs, "epochs (malicious epochs)")


class MaliciousAgent(abc.ABC):
    """Base of the attackers: estimation bookkeeping and seeding around :meth:`craft`.

    Args:
        agent_id: the attacker's index.
        data: its own shard (used by the attacks with a benign objective).
        model: a workspace network (may be shared with the benign agents).
        targets: the adversarial target set (x_l, τ_l).
        training: the federation's local-training settings (B, learning rate, batch order, E).
        seed: the run seed.
        aggregation_weight: α_m, the attacker's FedAvg weight.
        params: the attack's options.
    """

    is_malicious = True

    def __init__(
        self,
        agent_id: int,
        data: LabelledData,
        model: nn.Module,
        targets: TargetSet,
        training: LocalTraining,
        seed: int,
        aggregation_weight: float,
        params: AttackParams,
    ) -> None:
        self.agent_id = agent_id
        self.data = data
        self.model = model
        self.targets = targets
        self.training = training
        self.seed = seed
        self.aggregation_weight = aggregation_weight
        self.params = params
        self.tracker = OthersUpdateTracker(aggregation_weight)

    def boost_factor(self, boost: float | None) -> float:
        """λ: the given value, or 1/α_m, which undoes the server's averaging (§3.1 of the paper)."""
        return boost if boost is not None else 1.0 / self.aggregation_weight

    def compute_update(self, global_params: torch.Tensor, round_index: int) -> torch.Tensor:
        """The attacker's update for round ``round_index``: estimate, :meth:`craft` on the round's seeded stream,
        remember (see the module docstring)."""
        others = self.tracker.estimate(global_params, round_index)
        estimate = others if self.params.estimation is Estimation.PREVIOUS else None
        stream_seed = local_training_seed(self.seed, round_index, self.agent_id)
        with torch_seeded(stream_seed, global_params.device) as generator:
            if self.params.active(round_index):
                update = self.craft(global_params, estimate, others, generator)
            else:  # outside its window: what an honest agent with its data sends (BenignAgent's stream)
                update = self.training.train_from(self.model, global_params, self.data, generator) - global_params
        self.tracker.remember(global_params, round_index, update)
        return update

    @abc.abstractmethod
    def craft(
        self,
        global_params: torch.Tensor,
        estimate: torch.Tensor | None,
        others: torch.Tensor | None,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The malicious update for this round.

        Args:
            global_params: w_G^{t−1}.
            estimate: δ̂ to account for (``None`` without estimation or before there is one).
            others: the others' previous update δ̂, whether or not estimation is on (the
                stealthy objectives' anchor); ``None`` in the attacker's first round.
            generator: the round's seeded generator for batch order.
        """

    def distance_anchor(
        self,
        anchor: Anchor,
        epochs: float,
        global_params: torch.Tensor,
        others: torch.Tensor | None,
        generator: torch.Generator,
    ) -> torch.Tensor | None:
        """w_G + δ_cons for the distance term, or ``None`` when there is no anchor yet.

        ``others``: the others' previous update (none in the attacker's first
        round). ``self``: a benign update trained first from w_G for ``epochs``
        epochs on the attacker's data (the authors' ``dist_self``, SPEC §5.3).
        """
        if anchor is Anchor.OTHERS:
            return None if others is None else global_params + others
        return self.training.train_from(self.model, global_params, self.data, generator, epochs)

    def adversarial_loss_at(self, where: AdversarialModel, base: torch.Tensor) -> torch.Tensor:
        """The adversarial loss at the attacker's own model, or at ŵ_G = base + α_m (w − base) (SPEC §5.2)."""
        if where is AdversarialModel.GLOBAL_ESTIMATE:
            return adversarial_loss_at_share(self.model, self.targets, base, self.aggregation_weight)
        return adversarial_loss(self.model, self.targets)

    def start_and_base(
        self, global_params: torch.Tensor, estimate: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the optimisation starts and what the update is measured from (see :class:`EstimationUse`)."""
        if estimate is None:
            return global_params, global_params
        base = global_params + estimate
        return (base if self.params.estimation_use is EstimationUse.PRE else global_params), base
