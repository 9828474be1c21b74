"""Server-side aggregation rules: pure functions on stacked updates ``(n_agents, n_params)`` and weights.

=====================  ====================================  ==========================================
rule                   function                              assumption / guarantee
=====================  ====================================  ==========================================
FedAvg                 :func:`fedavg`                        none: the paper's server
Krum, Multi-Krum       :func:`krum`, :func:`multi_krum`      n > 2f + 2 (Blanchard et al. 2017)
coordinate median      :func:`coordinate_median`             f < n / 2 (Yin et al. 2018)
trimmed mean           :func:`trimmed_mean`                  trim ≥ f, 2·trim < n (Yin et al. 2018)
Bulyan                 :func:`bulyan`                        n ≥ 4f + 3 (El Mhamdi et al. 2018)
norm clipping          :func:`norm_clipping`                 honest updates shorter than M (Sun et al. 2019)
=====================  ====================================  ==========================================

Every rule returns an :class:`Aggregation`: the step and what it did with each
row. No model and no data are involved, so each rule can be checked on tiny
tensors. :class:`AggregationRule` puts one on a server
(``ExperimentConfig(aggregator=AggregationRule("krum", f=1))``).
"""

from fedutils.aggregators.base import Aggregation, check_stack
from fedutils.aggregators.bulyan import bulyan
from fedutils.aggregators.clipping import norm_clipping
from fedutils.aggregators.coordinate import coordinate_median, trimmed_mean
from fedutils.aggregators.krum import krum, krum_scores, multi_krum
from fedutils.aggregators.mean import fedavg
from fedutils.aggregators.rule import AggregationRule, KrumDistance, RuleName, ServerStep

__all__ = [
    "Aggregation",
    "AggregationRule",
    "KrumDistance",
    "RuleName",
    "ServerStep",
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
