"""What a careful server can check on the updates it receives (Bhagoji et al. 2019, §3.3; SPEC §6).

==============  ==========================  ===========================================
name            options                     flags an update when
==============  ==========================  ===========================================
``accuracy``    :class:`AccuracyCheck`      w_G + δ_i is > γ less accurate than the
                                            model aggregated from the other updates
``distance``    :class:`DistanceCheck`      its L2 distances to the others leave the
                                            others' pairwise band by > κ (relative)
==============  ==========================  ===========================================

Put them on a server with ``ExperimentConfig(checks=ServerChecks(...))``,
observing (the paper) or filtering (a defense). :func:`update_statistics`
summarises updates in numbers; :func:`fedutils.analysis.detection_rates` scores a run's checks.
"""

from fedutils.checks.accuracy import DEFAULT_GAMMA, AccuracyCheck
from fedutils.checks.base import CheckMode, CheckOptions, RoundUpdates, ServerResources, Verdict
from fedutils.checks.distance import (
    DEFAULT_KAPPA,
    DistanceCheck,
    DistanceRanges,
    distance_ranges,
    leave_one_out_ranges,
    pairwise_distances,
)
from fedutils.checks.inspection import CHECKS, DEFAULT_HELD_OUT_SAMPLES, Inspection, ServerChecks, check_options
from fedutils.checks.statistics import NEGLIGIBLE_CHANGE, update_statistics

__all__ = [
    "CHECKS",
    "DEFAULT_GAMMA",
    "DEFAULT_HELD_OUT_SAMPLES",
    "DEFAULT_KAPPA",
    "NEGLIGIBLE_CHANGE",
    "AccuracyCheck",
    "CheckMode",
    "CheckOptions",
    "DistanceCheck",
    "DistanceRanges",
    "Inspection",
    "RoundUpdates",
    "ServerChecks",
    "ServerResources",
    "Verdict",
    "check_options",
    "distance_ranges",
    "leave_one_out_ranges",
    "pairwise_distances",
    "update_statistics",
]
