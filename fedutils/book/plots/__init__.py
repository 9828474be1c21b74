"""Every figure the book shows: one function each, one style, by topic.

Each function draws on a new (or given) Matplotlib axes and returns the
figure, with axes labelled (units included) and a legend where there is more
than one series. Accuracies are shown in percent. The numbers come from
:mod:`fedutils.analysis`; these modules only draw:

* :mod:`~fedutils.book.plots.style` — the book's style and shared helpers;
* :mod:`~fedutils.book.plots.rounds` — a federation round by round;
* :mod:`~fedutils.book.plots.checks` — the server's checks;
* :mod:`~fedutils.book.plots.robust` — Byzantine-robust aggregation;
* :mod:`~fedutils.book.plots.interpret` — attribution maps;
* :mod:`~fedutils.book.plots.network` — the appendix's network study.
"""

from fedutils.book.plots.checks import (
    accuracy_check,
    detection_tradeoff,
    distance_band,
    distance_bands,
    honest_check_statistics,
    stealth_panels,
    update_histograms,
)
from fedutils.book.plots.interpret import UNSIGNED_METHODS, attribution_grid, attribution_similarity
from fedutils.book.plots.network import network_size, network_study, network_tradeoff
from fedutils.book.plots.robust import (
    PICTURE_RULES,
    aggregation_picture,
    defense_matrix,
    robust_rounds,
    security_curves,
)
from fedutils.book.plots.rounds import (
    agent_accuracies,
    attack_goal,
    class_counts_per_agent,
    confidence_over_seeds,
    participation,
    target_confidence,
    target_examples,
    targets_hit,
    validation_accuracy,
)
from fedutils.book.plots.style import STYLE, use_book_style

__all__ = [
    "PICTURE_RULES",
    "STYLE",
    "UNSIGNED_METHODS",
    "accuracy_check",
    "agent_accuracies",
    "aggregation_picture",
    "attack_goal",
    "attribution_grid",
    "attribution_similarity",
    "class_counts_per_agent",
    "confidence_over_seeds",
    "defense_matrix",
    "detection_tradeoff",
    "distance_band",
    "distance_bands",
    "honest_check_statistics",
    "network_size",
    "network_study",
    "network_tradeoff",
    "participation",
    "robust_rounds",
    "security_curves",
    "stealth_panels",
    "target_confidence",
    "target_examples",
    "targets_hit",
    "update_histograms",
    "use_book_style",
    "validation_accuracy",
]
