"""The server's aggregation rule as a configuration section: which rule, its assumption f, its options.

:class:`AggregationRule` is what an :class:`~fedutils.config.ExperimentConfig`
holds (``None`` is the paper's FedAvg). :meth:`AggregationRule.aggregate`
applies the chosen pure function and scales a robust rule's estimate of one
update into the global step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from fedutils.aggregators.base import Aggregation
from fedutils.aggregators.bulyan import bulyan
from fedutils.aggregators.clipping import norm_clipping
from fedutils.aggregators.coordinate import coordinate_median, trimmed_mean
from fedutils.aggregators.krum import krum, multi_krum
from fedutils.aggregators.mean import fedavg
from fedutils.errors import ConfigError
from fedutils.options import Choice, normalise_fields, replace_options, require_non_negative_int, require_positive


class RuleName(Choice):
    """The aggregation rules a server can use."""

    FEDAVG = "fedavg"
    KRUM = "krum"
    MULTI_KRUM = "multi_krum"
    MEDIAN = "median"
    TRIMMED_MEAN = "trimmed_mean"
    BULYAN = "bulyan"
    NORM_CLIP = "norm_clip"


class KrumDistance(Choice):
    """Krum's distances: squared over all parameters (Blanchard et al.), or the authors' plain L2 over weights."""

    SQUARED = "squared"
    AUTHORS = "authors"


class ServerStep(Choice):
    """How a rule that estimates one update (Krum, the median, …) becomes the global step.

    ``unit``: add the estimate with weight 1, as the authors did (SPEC §7).
    ``fedavg``: scale it by Σ α_i over the round's agents (= C), the size of a
    FedAvg step; with every agent taking part (C = 1) the two coincide.
    """

    UNIT = "unit"
    FEDAVG = "fedavg"


ESTIMATES_ONE_UPDATE = (RuleName.KRUM, RuleName.MULTI_KRUM, RuleName.MEDIAN, RuleName.TRIMMED_MEAN, RuleName.BULYAN)
"""Rules whose result is an estimate of one update rather than FedAvg's weighted sum."""


@dataclass(frozen=True)
class AggregationRule:
    """The server's aggregation rule.

    Attributes:
        rule: the rule.
        f: the number of Byzantine agents the rule assumes (Krum, Multi-Krum, Bulyan; the trimmed mean's default trim).
        trim: values dropped at each end per coordinate (trimmed mean); ``None`` means f.
        clip_norm: M, the largest update norm kept (norm clipping; required there).
        krum_selected: updates Multi-Krum averages; ``None`` means n − f.
        krum_distance: squared distances (the original) or the authors' variant.
        step: how an estimate of one update becomes the global step.
    """

    rule: RuleName = RuleName.FEDAVG
    f: int = 1
    trim: int | None = None
    clip_norm: float | None = None
    krum_selected: int | None = None
    krum_distance: KrumDistance = KrumDistance.SQUARED
    step: ServerStep = ServerStep.UNIT

    def __post_init__(self) -> None:
        normalise_fields(self)
        require_non_negative_int(self.f, "f (Byzantine agents the rule assumes)")
        if self.rule is RuleName.NORM_CLIP and self.clip_norm is None:
            raise ConfigError("norm_clip needs clip_norm (M, the largest update norm kept).")
        if self.clip_norm is not None:
            require_positive(self.clip_norm, "clip_norm (M)")

    def minimum_updates(self) -> int:
        """The fewest updates per aggregation for which the rule's assumption on n and f holds."""
        trim = self.f if self.trim is None else self.trim
        return {
            RuleName.KRUM: 2 * self.f + 3,
            RuleName.MULTI_KRUM: 2 * self.f + 3,
            RuleName.BULYAN: 4 * self.f + 3,
            RuleName.TRIMMED_MEAN: 2 * trim + 1,
        }.get(self.rule, 1)

    def aggregate(self, updates: torch.Tensor, weights: torch.Tensor, weight_mask: torch.Tensor) -> Aggregation:
        """Apply the rule to one round's ``updates`` and scale the result into the global step."""
        mask = weight_mask if self.krum_distance is KrumDistance.AUTHORS else None
        squared = self.krum_distance is KrumDistance.SQUARED
        rule = self.rule
        if rule is RuleName.FEDAVG:
            return fedavg(updates, weights)
        if rule is RuleName.NORM_CLIP:
            assert self.clip_norm is not None  # validated on construction
            return norm_clipping(updates, weights, self.clip_norm)
        if rule is RuleName.KRUM:
            result = krum(updates, weights, self.f, squared=squared, mask=mask)
        elif rule is RuleName.MULTI_KRUM:
            result = multi_krum(updates, weights, self.f, selected=self.krum_selected, squared=squared, mask=mask)
        elif rule is RuleName.MEDIAN:
            result = coordinate_median(updates, weights)
        elif rule is RuleName.TRIMMED_MEAN:
            result = trimmed_mean(updates, weights, self.f if self.trim is None else self.trim)
        else:
            result = bulyan(updates, weights, self.f, mask=mask)
        scale = weights.sum() if self.step is ServerStep.FEDAVG else 1.0
        return dataclasses.replace(result, step=scale * result.step)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} | {
            "rule": self.rule.value,
            "krum_distance": self.krum_distance.value,
            "step": self.step.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AggregationRule:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    def replace(self, **changes: Any) -> AggregationRule:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, "the aggregation rule")
