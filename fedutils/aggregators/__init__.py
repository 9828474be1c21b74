"""Server-side aggregation: rules and pre-aggregators on stacked updates ``(n_agents, n_params)`` and weights.

=====================  ============================  ============================  =================================
rule                   class                         function                      assumption / guarantee
=====================  ============================  ============================  =================================
FedAvg                 :class:`FedAvg`               :func:`fedavg`                none: the paper's server
Krum, Multi-Krum       :class:`Krum`,                :func:`krum`,                 n > 2f + 2 (Blanchard et al. 2017)
                       :class:`MultiKrum`            :func:`multi_krum`
coordinate median      :class:`Median`               :func:`coordinate_median`     f < n / 2 (Yin et al. 2018)
trimmed mean           :class:`TrimmedMean`          :func:`trimmed_mean`          trim ≥ f, 2·trim < n (Yin et al.)
Bulyan                 :class:`Bulyan`               :func:`bulyan`                n ≥ 4f + 3 (El Mhamdi et al. 2018)
=====================  ============================  ============================  =================================

=====================  ============================  ============================  =================================
pre-aggregator         class                         function                      assumption / guarantee
=====================  ============================  ============================  =================================
norm clipping          :class:`NormClip`             :func:`norm_clipping`         honest updates shorter than M
                                                     (with FedAvg)                 (Sun et al. 2019)
=====================  ============================  ============================  =================================

Every rule is a class holding its options, called once per round on the
stacked updates, and returns an :class:`Aggregation`: the step and what it
did with each row. Pre-aggregators have the same call and run in front of
any rule; :class:`ServerRule` composes them and is what a server holds::

    ExperimentConfig(aggregator=ServerRule(Krum(f=1), pre=(NormClip(max_norm=3.0),)))

No model and no data are involved, so each rule can be checked on tiny
tensors. A new rule is one module and one line in :mod:`~fedutils.aggregators.registry`.
"""

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
from fedutils.aggregators.bulyan import Bulyan, bulyan
from fedutils.aggregators.clipping import NormClip, norm_clipping
from fedutils.aggregators.coordinate import Median, TrimmedMean, coordinate_median, trimmed_mean
from fedutils.aggregators.krum import Krum, KrumDistance, MultiKrum, krum, krum_scores, multi_krum
from fedutils.aggregators.mean import FedAvg, fedavg
from fedutils.aggregators.registry import AGGREGATORS, PRE_AGGREGATORS
from fedutils.aggregators.server import ServerRule, ServerStep

__all__ = [
    "AGGREGATORS",
    "PRE_AGGREGATORS",
    "Aggregation",
    "Aggregator",
    "Bulyan",
    "FedAvg",
    "Krum",
    "KrumDistance",
    "Median",
    "MultiKrum",
    "NormClip",
    "PreAggregation",
    "PreAggregator",
    "RuleState",
    "ServerContext",
    "ServerNeed",
    "ServerRule",
    "ServerStep",
    "TrimmedMean",
    "bulyan",
    "check_stack",
    "coordinate_median",
    "fedavg",
    "krum",
    "krum_scores",
    "multi_krum",
    "norm_clipping",
    "trimmed_mean",
]
