"""What every server-side check shares: its options, what it sees, and what it returns.

A check looks at one round's updates the way the server does — stacked,
anonymous, beside the global model w_G^{t−1} they were computed from — and
returns one :class:`Verdict` per update. It never learns which agent is the
attacker; the run's records add that afterwards, to score the check.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import torch

from fedutils.aggregators.base import Aggregation, ServerContext, ServerNeed
from fedutils.distances import rows_except
from fedutils.options import Choice, normalise_fields, replace_options

Aggregate = Callable[..., Aggregation]
"""The server's aggregation, called as ``aggregate(updates, weights, server=context)``: stacked updates
``(n, parameters)``, their weights ``(n,)`` and the round's :class:`~fedutils.aggregators.ServerContext` → the
step (and a report)."""


class CheckMode(Choice):
    """What the server does with a flagged update.

    ``observe``: measure and record only; every update is aggregated (the
    paper's use, SPEC §6). ``filter``: a defense; an update flagged by any
    check is left out of the aggregate.
    """

    OBSERVE = "observe"
    FILTER = "filter"


@dataclass(frozen=True)
class RoundUpdates:
    """What the server holds when it inspects a round.

    Attributes:
        global_params: w_G^{t−1}, the model the agents started from (flat).
        updates: the agents' updates δ_i^t, shape ``(n, parameters)``.
        weights: their aggregation weights α_i, shape ``(n,)``.
        context: what the server's rule may use this round besides them (agents, state, its own update).
    """

    global_params: torch.Tensor
    updates: torch.Tensor
    weights: torch.Tensor
    context: ServerContext = field(default_factory=ServerContext)

    def others(self, index: int) -> torch.Tensor:
        """The rows of every update but row ``index`` (:func:`~fedutils.distances.rows_except`)."""
        return rows_except(len(self.updates), index, self.updates.device)


@dataclass(frozen=True)
class ServerResources:
    """What the server brings to its checks besides the updates.

    Attributes:
        held_out_accuracies: accuracy (a fraction) of each of a stack of flat
            parameter vectors ``(n, P)`` on the server's own validation data,
            kept apart from the reported test data (all evaluated in one call).
        aggregate: the server's aggregation rule (FedAvg in the paper).
        weight_mask: True for the parameters that are weights (kernels), False for biases.
        context: what its rule may use in every round (the weight mask, the run's seed); the federation adds
            each round's facts (:meth:`~fedutils.aggregators.ServerContext.for_round`).
        server_update: the server's own update from w_G^{t−1} on its root data in round t (FLTrust's g_0),
            ``None`` when its rule needs none.
        needs: what its rule needs of each round's context (:class:`~fedutils.aggregators.ServerNeed`); the
            federation passes only that (reading which agents a subset of rows holds makes the host wait).
    """

    held_out_accuracies: Callable[[torch.Tensor], list[float]]
    aggregate: Aggregate
    weight_mask: torch.Tensor
    context: ServerContext = field(default_factory=ServerContext)
    server_update: Callable[[torch.Tensor, int], torch.Tensor] | None = None
    needs: frozenset[ServerNeed] = frozenset()


@dataclass(frozen=True)
class Verdict:
    """One update's result under one check.

    Attributes:
        flagged: the update fails the check (its statistic exceeds the threshold).
        statistic: the number compared with the check's threshold.
        measurements: what the statistic was computed from, by name (for plots and tables).
    """

    flagged: bool
    statistic: float
    measurements: dict[str, float]


@dataclass(frozen=True)
class CheckOptions(abc.ABC):
    """Options of one check; subclasses add their threshold and implement :meth:`inspect`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    """One line on when the check flags an update (the command line's ``--help`` lists it)."""

    def __post_init__(self) -> None:
        normalise_fields(self)
        self.validate()

    @abc.abstractmethod
    def validate(self) -> None:
        """Check the options; raise :class:`ConfigError` with one sentence naming the bad one."""

    @property
    @abc.abstractmethod
    def threshold(self) -> float:
        """The value of :attr:`Verdict.statistic` above which an update is flagged."""

    @abc.abstractmethod
    def inspect(self, round_updates: RoundUpdates, server: ServerResources) -> list[Verdict]:
        """One verdict per row of ``round_updates.updates``, in order."""

    def replace(self, **changes: Any) -> CheckOptions:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, f"the {self.name} check")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, with the check's name under ``"name"``."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"name": self.name, **{k: v.value if isinstance(v, Enum) else v for k, v in values.items()}}
