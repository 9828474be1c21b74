"""fedutils 0.2's names, kept working for one release (each warns once; ``CHANGELOG.md`` lists them).

Nothing in fedutils uses these; they exist so that a reader's notebook or
script written for 0.2 keeps running while it moves to the new names.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from typing import Any

from fedutils.aggregators import ServerContext, ServerRule
from fedutils.analysis import frames
from fedutils.deprecation import MovedModules, moved_names, warn_renamed
from fedutils.records import RunResult

SETUP = "fedutils.simulation.setup"
RUNNER = "fedutils.runner"
STORE = "fedutils.store"
ANALYSIS = "fedutils.analysis"
BOOK_TABLES = "fedutils.book.tables"

RENAMED_MODULES: dict[str, str] = {
    "fedutils.evaluator": "fedutils.simulation.evaluator",
    "fedutils.batched": "fedutils.simulation.batched",
    "fedutils.federation": "fedutils.simulation.federation",
    "fedutils.grid_backends": "fedutils.grids",
    "fedutils.contributions": "fedutils.analysis.contributions",
    "fedutils.interpret": "fedutils.analysis.interpret",
    "fedutils.checks.detection": "fedutils.analysis.detection",
    "fedutils.flower.simulation": "fedutils.flower.engine",
    "fedutils.plots": "fedutils.book.plots",
    "fedutils.paper": "fedutils.book.paper",
    "fedutils.network_study": "fedutils.book.network_study",
    "fedutils.recorded": "fedutils.book.recorded",
    "fedutils.exercises": "fedutils.book.exercises",
}
"""fedutils 0.2's modules that moved whole: old name → new name (their submodules move with them)."""

SPLIT_MODULES: dict[str, dict[str, str]] = {
    "fedutils.experiment": {
        **dict.fromkeys(
            (
                "Setup",
                "load_dataset",
                "partition",
                "prepare",
                "initial_parameters",
                "build_agent",
                "build_agents",
                "server_resources",
            ),
            SETUP,
        ),
        "federate": "fedutils.simulation.engine",
        **dict.fromkeys(("run_experiment", "run_seeds", "run_many"), RUNNER),
        "EngineName": "fedutils.run_options",
    },
    "fedutils.execution": {
        **dict.fromkeys(
            (
                "Executor",
                "SequentialExecutor",
                "BatchedExecutor",
                "ParallelExecutor",
                "AgentsDropped",
                "build_executor",
                "resolve_executor",
                "CPU_STACKING_LIMIT",
                "MEMORY_SHARE",
                "STACKING_DEVICES",
            ),
            "fedutils.simulation.execution",
        ),
        "ExecutorName": "fedutils.run_options",
    },
    "fedutils.results": {
        **dict.fromkeys(("AgentRecord", "CheckRecord", "RoundRecord", "RunResult", "RunSummary"), "fedutils.records"),
        **dict.fromkeys(
            ("ResultCache", "config_hash", "atomic_write", "RESULTS_SCHEMA", "CACHE_ENV_VAR", "DEFAULT_CACHE_DIR"),
            STORE,
        ),
    },
    "fedutils.compare": {
        **dict.fromkeys(
            (
                "confidence_at_rounds",
                "confidence_over_seeds",
                "accuracy_loss",
                "goal_met",
                "update_statistics_table",
                "attacker_share",
                "defense_outcomes",
                "krum_ranking",
                "grid_table",
            ),
            ANALYSIS,
        ),
        **dict.fromkeys(
            (
                "mean_pm_sd",
                "malicious_table",
                "distance_table",
                "checked_distance_table",
                "attack_outcome",
                "goal_table",
                "detection_table",
            ),
            BOOK_TABLES,
        ),
    },
    "fedutils.course": {
        **dict.fromkeys(("Exercise", "chapter_exercises", "exercise_table", "CourseError"), "fedutils.book.course"),
    },
}
"""fedutils 0.2's modules whose names went to several new modules: old module → name → its new module."""

MOVED_ATTRIBUTES: dict[str, str] = {
    "fedutils.config.settings_table": BOOK_TABLES,
    "fedutils.checks.check_verdicts": ANALYSIS,
    "fedutils.checks.detection_rates": ANALYSIS,
    "fedutils.checks.flags_per_round": ANALYSIS,
    "fedutils.checks.rates_at_thresholds": ANALYSIS,
    "fedutils.aggregators.AggregationRule": "fedutils.aggregators.legacy",
    "fedutils.aggregators.RuleName": "fedutils.aggregators.legacy",
}
"""Names that left a module that still exists: ``old.module.name`` → the module it is in now."""

RUN_RESULT_METHODS: dict[str, str] = {
    "to_frame": "rounds_frame",
    "agents_frame": "agents_frame",
    "checks_frame": "checks_frame",
    "targets_frame": "targets_frame",
    "malicious_frame": "malicious_frame",
}
"""``RunResult``'s frame methods of 0.2 → the functions of :mod:`fedutils.analysis.frames` that replace them."""


def _frame_method(old: str, new: str) -> Any:
    function = getattr(frames, new)

    def method(self: RunResult) -> Any:
        warn_renamed(f"RunResult.{old}()", f"fedutils.analysis.{new}(run)")
        return function(self)

    method.__doc__ = f"fedutils 0.2's ``run.{old}()``: :func:`fedutils.analysis.{new}`."
    return method


def _aggregate(self: ServerRule, updates: Any, weights: Any, weight_mask: Any) -> Any:
    """fedutils 0.2's ``rule.aggregate(updates, weights, weight_mask)``: the rule called with a ServerContext."""
    warn_renamed(
        "AggregationRule.aggregate(updates, weights, mask)", "rule(updates, weights, server=ServerContext(mask))"
    )
    return self(updates, weights, server=ServerContext(weight_mask=weight_mask))


def install() -> None:
    """Make the old names resolve: the old modules importable, RunResult's old methods callable."""
    MovedModules(RENAMED_MODULES, SPLIT_MODULES).install()
    left: dict[str, dict[str, str]] = defaultdict(dict)
    for dotted, new_module in MOVED_ATTRIBUTES.items():
        module, _, name = dotted.rpartition(".")
        left[module][name] = new_module
    for module, names in left.items():
        importlib.import_module(module).__getattr__ = moved_names(module, names)  # type: ignore[attr-defined]
    for old, new in RUN_RESULT_METHODS.items():
        if not hasattr(RunResult, old):
            setattr(RunResult, old, _frame_method(old, new))
    if not hasattr(ServerRule, "aggregate"):
        ServerRule.aggregate = _aggregate  # type: ignore[attr-defined]
