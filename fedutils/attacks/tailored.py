"""Attacks tailored to robust aggregation: f colluding agents that craft one update from the honest ones.

ALIE (Baruch et al. 2019), IPM (Xie et al. 2020), Min-Max and Min-Sum
(Shejwalkar & Houmansadr 2021) are not trained: each is a function of the
honest updates of the round, sent by all f attackers at once. The round has
two phases: every agent computes its update (an attacker that crafts from its
own updates its benign one, on its own data), then the attackers replace
theirs with the crafted vector before the server sees any. What they craft from is the threat model
(:class:`Knowledge`):

``honest``
    this round's honest updates — the omniscient attacker of the papers'
    headline numbers (ALIE §3, Min-Max's "AGR-agnostic, known benign
    gradients").
``own``
    only the f attackers' own benign updates of this round, the papers'
    weaker "unknown benign gradients" setting (it needs f ≥ 2 to see a spread).

Engines: the simulator runs both. A Flower client cannot see other clients'
updates, nor talk to the other attackers in the middle of a round, so on
Flower these attacks are refused (:func:`require_engine_supports`); the
paper's single-agent attacks, which use their own estimate (Chapter 6), run
on every engine.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.attacks.base import AttackParams, MaliciousAgent
from fedutils.errors import ConfigError
from fedutils.options import Choice, cli_flag


class Knowledge(Choice):
    """What colluding attackers craft from: this round's honest updates, or only their own benign updates."""

    HONEST = "honest"
    OWN = "own"


@dataclass(frozen=True)
class TailoredAttack(AttackParams):
    """Options of an attack crafted from the round's updates (see the module docstring).

    Attributes:
        knowledge: ``honest`` (this round's honest updates, the omniscient threat model) or ``own`` (the
            attackers' own benign updates only).
    """

    crafts_from_round: ClassVar[bool] = True
    needs_spread: ClassVar[bool] = False
    """Whether the attack needs at least two rows to craft from (a standard deviation, a spread of distances)."""

    knowledge: Knowledge = field(
        default=Knowledge.HONEST,
        metadata=cli_flag(
            "--knowledge", "what colluding attackers craft from: this round's honest updates or their own"
        ),
    )

    def validate(self) -> None:
        super().validate()
        if self.needs_spread and self.knowledge is Knowledge.OWN and self.attackers < 2:
            raise ConfigError(
                f"{self.name} with knowledge = own needs attackers ≥ 2 (a spread of their own updates); "
                f"got {self.attackers}."
            )

    @abc.abstractmethod
    def craft(self, seen: torch.Tensor, n: int, f: int) -> torch.Tensor:
        """The one update every attacker sends, from the ``(m, d)`` updates it sees, in a round of ``n`` updates
        of which ``f`` are the attackers'."""


class TailoredAgent(MaliciousAgent):
    """An attacker of a :class:`TailoredAttack`. In the first phase, under ``knowledge = own``, it trains like an
    honest agent on its own data (what the colluders then craft from); under ``knowledge = honest`` it trains
    nothing (what it would have sent is never used: a row of zeros holds its place). In the second phase it sends
    the crafted vector (:meth:`craft_from_round`)."""

    params: TailoredAttack
    crafts_from_round = True

    def craft(self, global_params, estimate, others, generator) -> torch.Tensor:
        if self.params.knowledge is Knowledge.HONEST:
            return torch.zeros_like(global_params)
        return self.training.train_from(self.model, global_params, self.data, generator) - global_params

    def craft_from_round(self, honest: torch.Tensor, colluders: torch.Tensor) -> torch.Tensor:
        """The crafted update, from this round's ``honest`` updates and the ``colluders``' first-phase rows.

        When the attackers see too few rows to craft from (fewer than two for an attack that needs a spread: an
        omniscient round with one honest update under partial participation, or a lone colluder), they send the
        mean of their first-phase rows: their benign updates under ``own``, no update (zeros) under ``honest``.
        """
        seen = honest if self.params.knowledge is Knowledge.HONEST else colluders
        if len(seen) < (2 if self.params.needs_spread else 1):
            return colluders.mean(dim=0)
        return self.params.craft(seen, len(honest) + len(colluders), len(colluders))


def second_phase(agents, updates: torch.Tensor, round_index: int) -> torch.Tensor:
    """The round's updates after its colluding attackers replaced theirs with their crafted one.

    ``agents``: the agents behind the rows of ``updates``. Rows of agents that craft from the round
    (``crafts_from_round``) and attack in round ``round_index`` all get the vector the first of them crafts
    (the attacks here send one between them); without such agents ``updates`` is returned as it is.
    """
    crafting = [
        i
        for i, agent in enumerate(agents)
        if getattr(agent, "crafts_from_round", False) and agent.params.active(round_index)
    ]
    if not crafting:
        return updates
    honest = [i for i, agent in enumerate(agents) if not agent.is_malicious]
    rows = torch.tensor(crafting, device=updates.device)
    crafted = agents[crafting[0]].craft_from_round(
        updates[torch.tensor(honest, dtype=torch.long, device=updates.device)], updates[rows]
    )
    updates = updates.clone()
    updates[rows] = crafted
    return updates


def require_engine_supports(attack: AttackParams | None, sees_round: bool, engine: str) -> None:
    """Refuse an attack that crafts from the round on an engine whose attackers cannot see it (Flower).

    Raises:
        ConfigError: naming the attack and the engine.
    """
    if attack is not None and getattr(attack, "crafts_from_round", False) and not sees_round:
        raise ConfigError(
            f"attack {attack.name} crafts from this round's updates, which attackers on the {engine} engine cannot "
            "see; run it on the simulator."
        )


TailoredAttack.agent_class = TailoredAgent
