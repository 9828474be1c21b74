"""Analysis of finished runs: frames, detection rates, tables in numbers, contributions, attributions.

Everything here reads :class:`~fedutils.records.RunResult` records (and, for
contributions and attributions, rebuilds the models they describe); nothing
here trains a federation. The book's display tables and figures are
``fedutils.book``.
"""

from fedutils.analysis.detection import check_verdicts, detection_rates, flags_per_round, rates_at_thresholds
from fedutils.analysis.frames import agents_frame, checks_frame, malicious_frame, rounds_frame, targets_frame
from fedutils.analysis.tables import (
    accuracy_loss,
    attacker_share,
    confidence_at_rounds,
    confidence_over_seeds,
    defense_outcomes,
    goal_met,
    goal_rounds,
    grid_table,
    krum_ranking,
    rule_steps,
    update_statistics_table,
)

__all__ = [
    "accuracy_loss",
    "agents_frame",
    "attacker_share",
    "check_verdicts",
    "checks_frame",
    "confidence_at_rounds",
    "confidence_over_seeds",
    "defense_outcomes",
    "detection_rates",
    "flags_per_round",
    "goal_met",
    "goal_rounds",
    "grid_table",
    "krum_ranking",
    "malicious_frame",
    "rates_at_thresholds",
    "rounds_frame",
    "rule_steps",
    "targets_frame",
    "update_statistics_table",
]
