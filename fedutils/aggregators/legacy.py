"""fedutils 0.2's aggregation options, kept for one release: :class:`AggregationRule` builds a
:class:`~fedutils.aggregators.server.ServerRule` from 0.2's flat options (with a warning)."""

from __future__ import annotations

from typing import Any

from fedutils.aggregators.registry import AGGREGATORS
from fedutils.aggregators.server import NORM_CLIP_RULE, ServerRule
from fedutils.deprecation import warn_renamed
from fedutils.options import Choice

RuleName = Choice("RuleName", {name.upper(): name for name in [*AGGREGATORS, NORM_CLIP_RULE]})
"""fedutils 0.2's rule names (the registry's names now: :data:`fedutils.aggregators.AGGREGATORS`)."""


class AggregationRule:
    """fedutils 0.2's catch-all aggregation options: ``AggregationRule("krum", f=1)`` now returns the
    :class:`ServerRule` of 0.2's flat options (``ServerRule(Krum(f=1))``)."""

    def __new__(
        cls,
        rule: str = "fedavg",
        f: int = 1,
        trim: int | None = None,
        clip_norm: float | None = None,
        krum_selected: int | None = None,
        krum_distance: str = "squared",
        step: str = "unit",
    ) -> Any:
        warn_renamed("AggregationRule", "ServerRule with a rule's class, e.g. ServerRule(Krum(f=1))")
        return ServerRule.from_dict(
            {
                "rule": str(rule),
                "f": f,
                "trim": trim,
                "clip_norm": clip_norm,
                "krum_selected": krum_selected,
                "krum_distance": str(krum_distance),
                "step": str(step),
            }
        )

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ServerRule:
        """0.2's ``AggregationRule.from_dict``: :meth:`ServerRule.from_dict`."""
        warn_renamed("AggregationRule.from_dict", "ServerRule.from_dict")
        return ServerRule.from_dict(data)
