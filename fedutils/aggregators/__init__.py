"""Server-side aggregation: rules and pre-aggregators on stacked updates ``(n_agents, n_params)`` and weights.

========================  ==================================  ========================================
rule                      class                               needs / assumption
========================  ==================================  ========================================
FedAvg                    :class:`FedAvg`                     none: the paper's server
Krum, Multi-Krum          :class:`Krum`, :class:`MultiKrum`   n > 2f + 2 (Blanchard et al. 2017)
coordinate median         :class:`Median`                     f < n / 2 (Yin et al. 2018)
trimmed mean              :class:`TrimmedMean`                trim ≥ f, 2·trim < n (Yin et al. 2018)
Bulyan                    :class:`Bulyan`                     n ≥ 4f + 3 (El Mhamdi et al. 2018)
geometric median          :class:`GeometricMedian`            breakdown point 1/2 (RFA, Pillutla et al. 2022)
clipping + weak DP        :class:`ClipDP`                     seeded noise on the sum (Sun et al. 2019)
FLTrust                   :class:`FLTrust`                    a root set, the server's update (Cao et al. 2021)
FLAME                     :class:`Flame`                      the global model, seeded noise (Nguyen et al. 2022)
FoolsGold                 :class:`FoolsGold`                  agents' ids, histories as state (Fung et al. 2020)
centered clipping         :class:`CenteredClipping`           its centre as state (Karimireddy et al. 2021)
DnC                       :class:`DnC`                        c·f < n, seeded draws (Shejwalkar et al. 2021)
========================  ==================================  ========================================

========================  ==================================  ========================================
pre-aggregator            class                               assumption
========================  ==================================  ========================================
norm clipping             :class:`NormClip`                   honest updates shorter than M (Sun et al. 2019)
bucketing                 :class:`Bucketing`                  f tainted buckets (Karimireddy et al. 2022)
nearest-neighbour mixing  :class:`NearestNeighbourMixing`     f < n (Allouah et al. 2023)
ARC                       :class:`AdaptiveRobustClipping`     f < n (Allouah et al. 2024)
========================  ==================================  ========================================

Every rule is a class holding its options, called once per round on the
stacked updates, and returns an :class:`Aggregation`: the step and what it
did with each row. Pre-aggregators have the same call and run in front of
any rule; :class:`ServerRule` composes them and is what a server holds::

    ExperimentConfig(aggregator=ServerRule(Krum(f=1), pre=(NormClip(max_norm=3.0),)))

No model and no data are involved, so each rule can be checked on tiny
tensors. What a rule needs besides the updates — the global model, the agents' ids, seeded draws, the
server's own update on a root set — it declares (``needs``) and reads from the round's
:class:`ServerContext`; what it remembers across rounds (centered clipping's centre, FoolsGold's histories) it
returns as a :class:`RuleState` that the round loop carries and each round's record summarises. A new rule is
one module and one line in :mod:`~fedutils.aggregators.registry`.
"""

from fedutils.aggregators.arc import AdaptiveRobustClipping, adaptive_robust_clipping
from fedutils.aggregators.base import (
    Aggregation,
    Aggregator,
    PreAggregation,
    PreAggregator,
    RuleState,
    ServerContext,
    ServerNeed,
    check_stack,
)
from fedutils.aggregators.bucketing import Bucketing, bucketing
from fedutils.aggregators.bulyan import Bulyan, bulyan
from fedutils.aggregators.centered_clipping import CenteredClipping, centered_clipping
from fedutils.aggregators.clip_dp import ClipDP, clip_dp
from fedutils.aggregators.clipping import NormClip, norm_clipping
from fedutils.aggregators.coordinate import Median, TrimmedMean, coordinate_median, trimmed_mean
from fedutils.aggregators.dnc import DnC, dnc
from fedutils.aggregators.flame import Flame, flame
from fedutils.aggregators.fltrust import FLTrust, fltrust
from fedutils.aggregators.foolsgold import FoolsGold, foolsgold
from fedutils.aggregators.geometric_median import GeometricMedian, geometric_median
from fedutils.aggregators.krum import Krum, KrumDistance, MultiKrum, krum, krum_scores, multi_krum
from fedutils.aggregators.mean import FedAvg, fedavg
from fedutils.aggregators.nnm import NearestNeighbourMixing, nearest_neighbour_mixing
from fedutils.aggregators.registry import AGGREGATORS, PRE_AGGREGATORS
from fedutils.aggregators.server import ServerRule, ServerStep

__all__ = [
    "AGGREGATORS",
    "PRE_AGGREGATORS",
    "AdaptiveRobustClipping",
    "Aggregation",
    "Aggregator",
    "Bucketing",
    "Bulyan",
    "CenteredClipping",
    "ClipDP",
    "DnC",
    "FLTrust",
    "FedAvg",
    "Flame",
    "FoolsGold",
    "GeometricMedian",
    "Krum",
    "KrumDistance",
    "Median",
    "MultiKrum",
    "NearestNeighbourMixing",
    "NormClip",
    "PreAggregation",
    "PreAggregator",
    "RuleState",
    "ServerContext",
    "ServerNeed",
    "ServerRule",
    "ServerStep",
    "TrimmedMean",
    "adaptive_robust_clipping",
    "bucketing",
    "bulyan",
    "centered_clipping",
    "check_stack",
    "clip_dp",
    "coordinate_median",
    "dnc",
    "fedavg",
    "flame",
    "fltrust",
    "foolsgold",
    "geometric_median",
    "krum",
    "krum_scores",
    "multi_krum",
    "nearest_neighbour_mixing",
    "norm_clipping",
    "trimmed_mean",
]
