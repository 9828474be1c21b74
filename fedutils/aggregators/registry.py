"""Every aggregation rule and pre-aggregator by name: the one place a new one is registered.

A new rule is one module beside the others (a :class:`~fedutils.aggregators.base.Aggregator`
subclass with its options, its pure function and its docstring) and one line in
:data:`AGGREGATOR_CLASSES`; its command-line flags come from its fields
(:func:`fedutils.options.cli_flag`).
"""

from __future__ import annotations

from fedutils.aggregators.arc import AdaptiveRobustClipping
from fedutils.aggregators.base import Aggregator, PreAggregator
from fedutils.aggregators.bucketing import Bucketing
from fedutils.aggregators.bulyan import Bulyan
from fedutils.aggregators.centered_clipping import CenteredClipping
from fedutils.aggregators.clip_dp import ClipDP
from fedutils.aggregators.clipping import NormClip
from fedutils.aggregators.coordinate import Median, TrimmedMean
from fedutils.aggregators.dnc import DnC
from fedutils.aggregators.flame import Flame
from fedutils.aggregators.fltrust import FLTrust
from fedutils.aggregators.foolsgold import FoolsGold
from fedutils.aggregators.geometric_median import GeometricMedian
from fedutils.aggregators.krum import Krum, MultiKrum
from fedutils.aggregators.mean import FedAvg
from fedutils.aggregators.nnm import NearestNeighbourMixing

AGGREGATOR_CLASSES: tuple[type[Aggregator], ...] = (
    FedAvg,
    Krum,
    MultiKrum,
    Median,
    TrimmedMean,
    Bulyan,
    GeometricMedian,
    ClipDP,
    FLTrust,
    Flame,
    FoolsGold,
    CenteredClipping,
    DnC,
)
"""Every aggregation rule's class: the one place a new rule is registered."""
PRE_AGGREGATOR_CLASSES: tuple[type[PreAggregator], ...] = (
    NormClip,
    Bucketing,
    NearestNeighbourMixing,
    AdaptiveRobustClipping,
)
"""Every pre-aggregator's class: the one place a new pre-aggregator is registered."""

AGGREGATORS: dict[str, type[Aggregator]] = {rule.name: rule for rule in AGGREGATOR_CLASSES}
"""Rule name → its class."""
PRE_AGGREGATORS: dict[str, type[PreAggregator]] = {stage.name: stage for stage in PRE_AGGREGATOR_CLASSES}
"""Pre-aggregator name → its class."""
