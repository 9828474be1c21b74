"""The one shape of aggregation rules and pre-aggregators, what they return, and the checks of their input.

A rule takes ``updates`` of shape ``(n_agents, n_params)`` — row i is agent
i's flat update δ_i — and the agents' aggregation ``weights`` α_i of shape
``(n_agents,)``, and returns an :class:`Aggregation`: the global step and a
report of what the rule did with each row, so the federation can record,
for example, the rounds in which Krum chose the attacker.

Each rule is also a class (:class:`Aggregator`): a frozen dataclass of its
options, validated on construction, called once per round on the stacked
updates. A :class:`PreAggregator` has the same shape and runs in front of any
rule (norm clipping before Krum, as the literature composes them).
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import torch

from fedutils.errors import ConfigError
from fedutils.options import normalise_fields, replace_options, require_non_negative_int


@dataclass(frozen=True)
class Aggregation:
    """A rule's result.

    Attributes:
        step: the global step, shape ``(n_params,)``. FedAvg returns Σ_i α_i δ_i;
            the robust rules return an estimate of one typical update (what the
            authors added to the global model with weight 1, SPEC §7).
        selected: per row, whether the rule used that update (Krum's choice,
            Multi-Krum's and Bulyan's selections; every row for the others).
        coordinate_share: per row, the fraction of coordinates in which that
            row's value entered the step (coordinate-wise rules), else ``None``.
        clipped: per row, whether its update was scaled down (norm clipping), else ``None``.
    """

    step: torch.Tensor
    selected: torch.Tensor
    coordinate_share: torch.Tensor | None = None
    clipped: torch.Tensor | None = None


def check_stack(updates: torch.Tensor, weights: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``updates`` is ``(n, p)`` and ``weights`` is ``(n,)``."""
    if updates.ndim != 2:
        raise ValueError(f"updates must have shape (n_agents, n_params), got {tuple(updates.shape)}")
    if weights.shape != (updates.shape[0],):
        raise ValueError(f"weights must have shape ({updates.shape[0]},), got {tuple(weights.shape)}")


def require_byzantine_margin(n: int, f: int, needed: int, rule: str, condition: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``n ≥ needed`` (the rule's assumption on n and f)."""
    require_non_negative_int(f, f"f (the number of Byzantine agents {rule} assumes)")
    if n < needed:
        raise ConfigError(f"{rule} with f = {f} needs {condition}, that is at least {needed} updates; got {n}.")


def row_shares(rows: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Per row 0 … n−1, the fraction of the entries of ``rows`` (row indices of the values a step used) that are it."""
    counts = torch.zeros(n, dtype=dtype, device=rows.device)
    counts.index_add_(0, rows.flatten(), torch.ones(rows.numel(), dtype=dtype, device=rows.device))
    return counts / rows.numel()


def all_rows(updates: torch.Tensor) -> torch.Tensor:
    """A ``selected`` mask that keeps every row."""
    return torch.ones(len(updates), dtype=torch.bool, device=updates.device)


@dataclass(frozen=True)
class ServerContext:
    """What a rule may use besides the round's updates and weights.

    Attributes:
        weight_mask: True for the model's weights (kernels), False for its biases: the authors' Krum measures
            distances over the weights only (SPEC §7); ``None`` when the rule runs on bare vectors.
    """

    weight_mask: torch.Tensor | None = None


@dataclass(frozen=True)
class PreAggregation:
    """A pre-aggregator's output: the rows the next stage sees, and how they relate to the rows it was given.

    Attributes:
        updates: the rows passed on, shape ``(n_out, n_params)``.
        weights: their weights, shape ``(n_out,)``.
        sources: which input rows each output row is made of, a boolean ``(n_out, n_in)`` matrix (bucketing
            and mixing combine rows); ``None`` when output row i is input row i.
        clipped: per output row, whether it was scaled down, or ``None``.
    """

    updates: torch.Tensor
    weights: torch.Tensor
    sources: torch.Tensor | None = None
    clipped: torch.Tensor | None = None


@dataclass(frozen=True)
class RuleOptions:
    """What aggregation rules and pre-aggregators share: a name, options validated on construction, and a
    plain JSON form (``name`` plus the options)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    """One line on what it does, with its reference (the command line's ``--help`` lists it)."""

    def __post_init__(self) -> None:
        normalise_fields(self)
        self.validate()

    def validate(self) -> None:
        """Check the options; raise :class:`ConfigError` with one sentence naming the bad one."""

    def options(self) -> dict[str, Any]:
        """The options as plain JSON values (enums as their strings)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}

    def replace(self, **changes: Any) -> Any:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, self.name)


@dataclass(frozen=True)
class Aggregator(RuleOptions):
    """An aggregation rule: its options at construction, one call per round (Captum's and ByzFL's shape).

    A subclass names itself (``name``), states the fewest updates its assumption on n and f
    allows (:meth:`minimum_updates`) and implements its call on the stacked updates,
    usually by calling its pure function. ``estimates_one_update`` says whether the result is
    an estimate of one update (Krum, the median, …) rather than FedAvg's weighted sum; a
    :class:`~fedutils.aggregators.server.ServerRule` then scales it into the step.
    """

    estimates_one_update: ClassVar[bool] = True
    legacy_wire: ClassVar[bool] = False
    """A rule of fedutils 0.2, whose plain form is 0.2's flat dictionary (see :mod:`~fedutils.aggregators.server`)."""
    wire_names: ClassVar[dict[str, str]] = {}
    """For a rule of 0.2, its options' names in that flat dictionary where they differ (``distance`` →
    ``krum_distance``)."""

    def minimum_updates(self) -> int:
        """The fewest updates for which the rule's assumption on n and f holds."""
        return 1

    @abc.abstractmethod
    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        """The rule applied to one round's ``(n, n_params)`` updates and ``(n,)`` weights."""


@dataclass(frozen=True)
class PreAggregator(RuleOptions):
    """A stage in front of any rule (ByzFL's pre-aggregators): clipping, bucketing, mixing.

    It maps the round's rows to the rows the next stage sees and says how (:class:`PreAggregation`).
    """

    def rows_out(self, rows_in: int) -> int:
        """How many rows it passes on when given ``rows_in``."""
        return rows_in

    @abc.abstractmethod
    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> PreAggregation:
        """The rows the next stage sees."""
