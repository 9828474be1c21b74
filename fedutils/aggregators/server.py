"""The server's aggregation as a configuration section: pre-aggregators in front of one rule, and the step.

:class:`ServerRule` is what an :class:`~fedutils.config.ExperimentConfig`
holds (``None`` is the paper's FedAvg)::

    ServerRule(Krum(f=1))                                  # Krum, its estimate added with weight 1
    ServerRule(Median(), pre=(NormClip(max_norm=3.0),))    # clip every update, then the median

Each round it runs the pre-aggregators in order, then the rule, maps the
rule's report back onto the round's own rows (which update was selected,
which was clipped), and scales a rule's estimate of one update into the
global step (:class:`ServerStep`).

Its plain form keeps fedutils 0.2's flat dictionary for the rules of 0.2 —
``{"rule": "krum", "f": 1, "trim": None, "clip_norm": None, "krum_selected":
None, "krum_distance": "squared", "step": "unit"}`` — so that every recorded
and cached run keeps its key; norm clipping in front of FedAvg is 0.2's
``"norm_clip"`` rule. Pre-aggregators add a ``"pre"`` list, and rules added
since write their own options only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from fedutils.aggregators.base import Aggregation, Aggregator, PreAggregator, ServerContext, ServerNeed
from fedutils.aggregators.clipping import NormClip
from fedutils.aggregators.mean import FedAvg
from fedutils.aggregators.registry import AGGREGATORS, PRE_AGGREGATORS
from fedutils.errors import ConfigError
from fedutils.options import Choice, cli_flag, lookup, normalise_fields, replace_options

LEGACY_WIRE_DEFAULTS: dict[str, Any] = {
    "f": 1,
    "trim": None,
    "clip_norm": None,
    "krum_selected": None,
    "krum_distance": "squared",
}
"""The options every rule of fedutils 0.2 wrote into its plain form, whether or not they applied to it, with
their defaults (in 0.2's order: ``rule`` before them, ``step`` after)."""

NORM_CLIP_RULE = "norm_clip"
"""fedutils 0.2's name for norm clipping in front of FedAvg, a rule of its own there."""

MAX_ROUND_SIZE = 100_000
"""The largest round :meth:`ServerRule.minimum_updates` searches for the fewest updates a composition needs."""


class ServerStep(Choice):
    """How a rule that estimates one update (Krum, the median, …) becomes the global step.

    ``unit``: add the estimate with weight 1, as the authors did (SPEC §7).
    ``fedavg``: scale it by Σ α_i over the round's agents (= C), the size of a
    FedAvg step; with every agent taking part (C = 1) the two coincide.
    """

    UNIT = "unit"
    FEDAVG = "fedavg"


@dataclass(frozen=True)
class ServerRule:
    """The server's aggregation: ``pre`` stages in order, then ``rule``, then the step.

    Attributes:
        rule: the aggregation rule (:mod:`fedutils.aggregators`).
        pre: pre-aggregators run in front of the rule, first to last (norm clipping, …).
        step: how a rule's estimate of one update becomes the global step (only for such rules).
    """

    rule: Aggregator = field(default_factory=FedAvg)
    pre: tuple[PreAggregator, ...] = ()
    step: ServerStep = field(
        default=ServerStep.UNIT,
        metadata=cli_flag(
            "--server-step", "a robust rule's estimate is added with weight 1 (unit, the authors) or scaled by Σ α_i"
        ),
    )

    def __post_init__(self) -> None:
        normalise_fields(self)
        if not isinstance(self.rule, Aggregator):
            raise ConfigError(f"rule must be an aggregation rule (fedutils.aggregators), got {self.rule!r}.")
        pre = tuple(self.pre) if isinstance(self.pre, (tuple, list)) else (self.pre,)
        object.__setattr__(self, "pre", pre)
        for stage in pre:
            if not isinstance(stage, PreAggregator):
                raise ConfigError(f"pre must hold pre-aggregators (fedutils.aggregators), got {stage!r}.")
        if self.step is not ServerStep.UNIT and not self.rule.estimates_one_update:
            raise ConfigError(
                f"step applies to rules that estimate one update; {self.rule.name} already returns the step."
            )

    @property
    def name(self) -> str:
        """The stages as one name, e.g. ``"norm_clip → krum"``."""
        return " → ".join([*(stage.name for stage in self.pre), self.rule.name])

    @property
    def needs(self) -> frozenset[ServerNeed]:
        """What the rule and its pre-aggregators need of the server besides the updates."""
        return frozenset(self.rule.needs).union(*(stage.needs for stage in self.pre))

    def reserved_samples(self) -> int:
        """How many of the server's validation examples the rule trains on (FLTrust's root set)."""
        return self.rule.reserved_samples()

    def minimum_updates(self) -> int:
        """The fewest updates per round for which the rule, behind its pre-aggregators, has the updates its
        assumption on n and f needs."""
        needed = self.rule.minimum_updates()
        for rows in range(1, MAX_ROUND_SIZE):
            if self._rows_reaching_rule(rows) >= needed:
                return rows
        raise ConfigError(f"{self.name} needs more than {MAX_ROUND_SIZE:,} updates per round.")

    def _rows_reaching_rule(self, rows: int) -> int:
        for stage in self.pre:
            rows = stage.rows_out(rows)
        return rows

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        """One round's aggregation; the report (selected, coordinate share, clipped) is per row of ``updates``."""
        sources: torch.Tensor | None = None  # which of the round's rows the current rows are made of
        clipped: torch.Tensor | None = None
        for stage in self.pre:
            out = stage(updates, weights, server=server)
            if out.clipped is not None:
                clipped_now = _to_round_rows(out.clipped, sources)
                clipped = clipped_now if clipped is None else clipped | clipped_now
            sources = _compose(out.sources, sources)
            updates, weights = out.updates, out.weights
        result = self.rule(updates, weights, server=server)
        if self.rule.estimates_one_update:
            scale = weights.sum() if self.step is ServerStep.FEDAVG else 1.0
            result = dataclasses.replace(result, step=scale * result.step)
        if not self.pre:
            return result
        share = result.coordinate_share
        if result.clipped is not None:
            clipped_by_rule = _to_round_rows(result.clipped, sources)
            clipped = clipped_by_rule if clipped is None else clipped | clipped_by_rule
        return Aggregation(
            result.step,
            _to_round_rows(result.selected, sources),
            None if share is None else _shares_to_round_rows(share, sources),
            clipped,
            weight=None if result.weight is None else _shares_to_round_rows(result.weight, sources),
            cluster=result.cluster if sources is None else None,  # a cluster of mixed rows names no one row
            state=result.state,
        )

    def to_dict(self) -> dict[str, Any]:
        """The plain JSON form (see the module docstring: fedutils 0.2's for its rules)."""
        if isinstance(self.rule, FedAvg) and len(self.pre) == 1 and isinstance(self.pre[0], NormClip):
            return {
                "rule": NORM_CLIP_RULE,
                **LEGACY_WIRE_DEFAULTS,
                "clip_norm": self.pre[0].max_norm,
                "step": self.step.value,
            }
        out: dict[str, Any] = {"rule": self.rule.name}
        options = self.rule.options()
        if self.rule.legacy_wire:
            out |= LEGACY_WIRE_DEFAULTS | {self.rule.wire_names.get(k, k): v for k, v in options.items()}
        else:
            out |= options
        out["step"] = self.step.value
        if self.pre:
            out["pre"] = [{"name": stage.name, **stage.options()} for stage in self.pre]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerRule:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: an unknown rule or pre-aggregator, or an option that does not apply to the rule.
        """
        values = dict(data)
        name = values.pop("rule", FedAvg.name)
        step = values.pop("step", ServerStep.UNIT.value)
        pre = [
            lookup(PRE_AGGREGATORS, stage["name"], "pre-aggregator")(**_without_name(stage))
            for stage in values.pop("pre", ())
        ]
        if name == NORM_CLIP_RULE:
            clip_norm = values.pop("clip_norm", None)
            if clip_norm is None:
                raise ConfigError("norm_clip needs clip_norm (M, the largest update norm kept).")
            _require_legacy_defaults(values, name)
            return cls(FedAvg(), (NormClip(clip_norm), *pre), step)
        kind = lookup(AGGREGATORS, name, "aggregation rule")
        if kind.legacy_wire:
            own = {}
            for option in (f.name for f in dataclasses.fields(kind)):
                wire = kind.wire_names.get(option, option)
                if wire in values:
                    own[option] = values.pop(wire)
            _require_legacy_defaults(values, name)
            values = own
        return cls(kind(**values), tuple(pre), step)

    def replace(self, **changes: Any) -> ServerRule:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, "the server's aggregation")


def _without_name(stage: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stage.items() if k != "name"}


def _require_legacy_defaults(values: Mapping[str, Any], rule: str) -> None:
    """Refuse an option of 0.2's flat form that does not apply to ``rule`` (0.2 silently ignored it)."""
    for option, value in values.items():
        if option not in LEGACY_WIRE_DEFAULTS:
            raise ConfigError(f"unknown option {option!r} of the aggregation rule {rule}.")
        if value != LEGACY_WIRE_DEFAULTS[option]:
            raise ConfigError(f"{option} does not apply to {rule}; leave it at {LEGACY_WIRE_DEFAULTS[option]!r}.")


def _compose(new: torch.Tensor | None, old: torch.Tensor | None) -> torch.Tensor | None:
    """The sources of a stage's output rows among the round's rows, given the stage's and its input's."""
    if new is None:
        return old
    if old is None:
        return new
    return (new.to(torch.float32) @ old.to(torch.float32)) > 0


def _to_round_rows(flags: torch.Tensor, sources: torch.Tensor | None) -> torch.Tensor:
    """Per row of the round, whether any row made from it carries the flag."""
    if sources is None:
        return flags
    return (flags.to(torch.float32) @ sources.to(torch.float32)) > 0


def _shares_to_round_rows(shares: torch.Tensor, sources: torch.Tensor | None) -> torch.Tensor:
    """A rule's per-row coordinate shares split evenly among the round's rows each row was made from."""
    if sources is None:
        return shares
    weights = sources.to(shares.dtype)
    return (shares / weights.sum(dim=1)) @ weights
