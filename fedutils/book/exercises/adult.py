"""Checks for Chapter 9's exercises (UCI Adult; the talk's backup slides, SPEC §9.3): how many malicious
steps explicit boosting needs, and what the server's accuracy check (§3.3 of the paper) can and cannot see
when three people in four are in one class.

Every check recomputes its answer from the student's own runs (goal, accuracy gaps, recalls), so it holds
at any number of rounds or rows per agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from fedutils.analysis import accuracy_loss, check_verdicts, goal_met
from fedutils.analysis.interpret import predictions
from fedutils.book.exercises.base import (
    AnswerError,
    Passed,
    require_answer,
    require_number,
    require_run,
    require_same_settings,
)
from fedutils.data.dataset import LabelledData
from fedutils.errors import ConfigError
from fedutils.records import RunResult

ATTACK = "explicit_boosting"
SWEPT_STEPS = (10, 20)
"""The malicious step counts the first exercise adds to the chapter's (5 and ``more_steps``)."""
GOAL_CONFIDENCE = 0.9
GOAL_POINTS = 2.0
"""The adversary's goal (§2 of the paper, as in the chapter): target confidence ≥ 0.9, at most 2 points lost."""
POINTS_TOLERANCE = 0.05
"""How far an answer in accuracy points may be from the recomputed value (rounding to a tenth of a point)."""
IGNORED_OPTIONS = frozenset({"attack", "keep_updates"})
"""Options a run may change and still be "the chapter's experiment with another attack"."""


def _runs(value: Any, name: str) -> list[RunResult]:
    value = require_answer(value, name)
    runs = list(value.values()) if isinstance(value, Mapping) else value
    if isinstance(runs, RunResult) or not isinstance(runs, Iterable):
        raise AnswerError(f"`{name}` must be a dict of runs, as run_many(...) returns.")
    return [require_run(run, name, attack=ATTACK) for run in runs]


def _fixed_steps(run: RunResult) -> int | None:
    """The Adam steps of an explicit-boosting run with a fixed number of them (``None`` for a stopping rule)."""
    attack = run.config.attack
    return None if attack.stop_loss is not None else int(attack.epochs)


def goal_at_last_round(run: RunResult, benign: RunResult) -> bool:
    """Whether ``run`` meets the goal (confidence ≥ 0.9, ≤ 2 points lost against ``benign``) after its last round."""
    met = goal_met(run, benign, GOAL_CONFIDENCE, GOAL_POINTS)
    return bool(met.iloc[-1])


def fewest_goal_steps(runs: Iterable[RunResult], benign: RunResult) -> int | None:
    """The fewest fixed malicious steps among ``runs`` that meet the goal by the last round, else ``None``."""
    meeting = [steps for run in runs if (steps := _fixed_steps(run)) is not None and goal_at_last_round(run, benign)]
    return min(meeting) if meeting else None


def check_steps(
    fewest_steps: int | None,
    sweep: Mapping[str, RunResult] | None,
    explicit_runs: Mapping[str, RunResult],
    benign: RunResult,
) -> Passed:
    """``sweep`` adds 10 and 20 malicious steps to the chapter's explicit-boosting runs (same experiment), and
    ``fewest_steps`` is the fewest fixed steps, among all of them, that meet the goal after the last round."""
    swept = _runs(sweep, "sweep")
    for run in swept:
        require_same_settings(run, "sweep", benign, "benign", IGNORED_OPTIONS)
    missing = sorted(set(SWEPT_STEPS) - {_fixed_steps(run) for run in swept})
    if missing:
        raise AnswerError(
            f"`sweep` must hold ExplicitBoosting(epochs=e) runs for e = {', '.join(map(str, SWEPT_STEPS))}; "
            f"it has no run with {', '.join(map(str, missing))} steps."
        )
    by_steps = {steps: run for run in [*explicit_runs.values(), *swept] if (steps := _fixed_steps(run)) is not None}
    expected = fewest_goal_steps(by_steps.values(), benign)
    if fewest_steps is Ellipsis:
        require_answer(fewest_steps, "fewest_steps")
    last = benign.records[-1].round

    def outcome(steps: int) -> str:
        run = by_steps[steps]
        lost = accuracy_loss(run, benign).iloc[-1]
        return f"{steps} steps: confidence {run.records[-1].target_confidence:.2f}, {lost:.1f} points lost"

    tried = ", ".join(map(str, sorted(by_steps)))
    if fewest_steps == expected:
        outcomes = "; ".join(outcome(steps) for steps in sorted(by_steps))
        verdict = f"{expected} steps are the fewest that meet the goal" if expected else "no setting meets the goal"
        return Passed(f"{verdict} at round {last} ({outcomes}).")
    if fewest_steps is None:
        raise AnswerError(f"{outcome(expected)} at round {last} meets the goal, so `fewest_steps` is not None.")
    if fewest_steps not in by_steps:
        raise AnswerError(f"`fewest_steps` must be one of the step counts run ({tried}) or None, not {fewest_steps!r}.")
    if not goal_at_last_round(by_steps[fewest_steps], benign):
        raise AnswerError(
            f"{outcome(fewest_steps)} at round {last}: the goal needs confidence ≥ {GOAL_CONFIDENCE} and at most "
            f"{GOAL_POINTS:g} points lost."
        )
    raise AnswerError(f"{fewest_steps} steps meet the goal at round {last}, but fewer do: {outcome(expected)}.")


def _accuracy_and_balanced(model: torch.nn.Module, data: LabelledData) -> tuple[float, float]:
    predicted, _ = predictions(model, data.x)
    truth = data.y.cpu()
    recalls = [float((predicted[truth == c] == c).float().mean()) for c in truth.unique().tolist()]
    return float((predicted == truth).float().mean()), sum(recalls) / len(recalls)


def _high_earner_recall(model: torch.nn.Module, data: LabelledData) -> float:
    predicted, _ = predictions(model, data.x)
    truth = data.y.cpu()
    return float((predicted[truth == 1] == 1).float().mean())


def _pick(runs: Mapping[str, RunResult], *, attacked: bool) -> RunResult:
    for run in runs.values():
        attack = run.config.attack
        if not attacked and attack is None:
            return run
        if attacked and attack is not None and attack.name == ATTACK and attack.stop_loss is not None:
            return run
    which = "the authors' explicit boosting (stop_loss=1e-6)" if attacked else "no attack"
    raise ConfigError(f"`first_round` has no run with {which}.")


def collapse_gaps(first_round: Mapping[str, RunResult], test_split: LabelledData) -> tuple[float, float]:
    """In points: how much less accurate, and how much lower in balanced accuracy (the mean of the classes'
    recalls), the one-round model of the authors' explicit boosting is than the attack-free one on ``test_split``."""
    honest = _accuracy_and_balanced(_pick(first_round, attacked=False).global_model(), test_split)
    collapsed = _accuracy_and_balanced(_pick(first_round, attacked=True).global_model(), test_split)
    return 100 * (honest[0] - collapsed[0]), 100 * (honest[1] - collapsed[1])


def _points(value: Any, name: str, expected: float, what: str) -> None:
    """``value`` must be ``expected`` accuracy points, within :data:`POINTS_TOLERANCE`."""
    value = require_number(value, name, "a number of accuracy points")
    if abs(value - expected) <= POINTS_TOLERANCE:
        return
    if abs(100 * value - expected) <= POINTS_TOLERANCE:
        raise AnswerError(f"`{name}` is a fraction; give it in points (×100): {expected:.2f}.")
    if abs(value + expected) <= POINTS_TOLERANCE:
        raise AnswerError(f"`{name}` has the wrong sign: {what} is {expected:.2f} points (honest minus attacked).")
    raise AnswerError(f"`{name}` should be {what}: {expected:.2f} points, not {value:.2f}.")


def check_collapse_statistic(
    accuracy_gap: float | None,
    balanced_gap: float | None,
    first_round: Mapping[str, RunResult],
    test_split: LabelledData,
) -> Passed:
    """``accuracy_gap`` and ``balanced_gap`` are how many points the one-round model of the authors' explicit
    boosting falls below the attack-free one in accuracy and in balanced accuracy, on the test rows: the
    statistic the paper's accuracy check thresholds (§3.3) against one that sees a collapse to the majority class."""
    expected_accuracy, expected_balanced = collapse_gaps(first_round, test_split)
    _points(accuracy_gap, "accuracy_gap", expected_accuracy, "the drop in accuracy")
    if balanced_gap is not Ellipsis and balanced_gap is not None and isinstance(balanced_gap, int | float):
        honest = _pick(first_round, attacked=False).global_model()
        collapsed = _pick(first_round, attacked=True).global_model()
        recall_gap = 100 * (_high_earner_recall(honest, test_split) - _high_earner_recall(collapsed, test_split))
        far = abs(balanced_gap - expected_balanced) > POINTS_TOLERANCE
        if far and abs(balanced_gap - recall_gap) <= POINTS_TOLERANCE:
            raise AnswerError(
                "`balanced_gap` is the drop in the recall of > 50K alone; balanced accuracy is the mean of both "
                "classes' recalls."
            )
    _points(balanced_gap, "balanced_gap", expected_balanced, "the drop in balanced accuracy")
    return Passed(
        f"the collapse costs {expected_accuracy:.1f} points of accuracy but {expected_balanced:.1f} of balanced "
        "accuracy."
    )


def accuracy_gaps(run: RunResult, *, malicious: bool) -> list[float]:
    """The accuracy check's statistic, in points, for the malicious update or for the honest ones, every round."""
    try:
        verdicts = check_verdicts(run, "accuracy")
    except ConfigError as error:
        raise AnswerError("the run has no accuracy-check records: it must run with the chapter's checks.") from error
    return (100 * verdicts.loc[verdicts["is_malicious"] == malicious, "statistic"]).tolist()


def check_tighter_gamma(
    authors_rule: RunResult | None,
    tightest_gamma: float | None,
    honest_largest: float | None,
    benign: RunResult,
) -> Passed:
    """``authors_rule`` is the chapter's explicit-boosting run with the authors' stopping rule;
    ``tightest_gamma`` the smallest accuracy gap its update showed in any round (every γ below it flags the
    update in every round) and ``honest_largest`` the largest gap of an honest update in the attack-free run:
    the accuracy check of §3.3 separates the two only if γ can sit between them."""
    authors_rule = require_run(authors_rule, "authors_rule", attack=ATTACK)
    stop_loss = authors_rule.config.attack.stop_loss
    if stop_loss is None:
        raise AnswerError(
            f"`authors_rule` must be the run with the authors' stopping rule (stop_loss=1e-6), not "
            f"{authors_rule.config.attack.epochs} fixed steps."
        )
    malicious = accuracy_gaps(authors_rule, malicious=True)
    tightest = min(malicious)
    if isinstance(tightest_gamma, int | float) and not isinstance(tightest_gamma, bool):
        far = abs(tightest_gamma - tightest) > POINTS_TOLERANCE
        if far and len(malicious) > 1 and abs(tightest_gamma - max(malicious)) <= POINTS_TOLERANCE:
            raise AnswerError(
                "`tightest_gamma` is the update's largest gap: a γ just below it lets the update through in the "
                "rounds where its gap was smaller; take the smallest."
            )
    _points(tightest_gamma, "tightest_gamma", tightest, "the smallest gap of the authors' update over the rounds")
    honest = max(accuracy_gaps(require_run(benign, "benign"), malicious=False))
    if isinstance(honest_largest, int | float) and not isinstance(honest_largest, bool):
        among_attacked = accuracy_gaps(authors_rule, malicious=False)
        far = abs(honest_largest - honest) > POINTS_TOLERANCE
        if far and abs(honest_largest - max(among_attacked)) <= POINTS_TOLERANCE:
            raise AnswerError(
                "`honest_largest` comes from the attacked run, where each honest update is compared with an "
                "aggregate that includes the attacker's; take the attack-free run `benign`."
            )
    _points(honest_largest, "honest_largest", honest, "the largest gap of an honest update in `benign`")
    if honest < tightest:
        return Passed(
            f"any γ between {honest:.1f} and {tightest:.1f} points flags the authors' update in every round and "
            "no honest update of the attack-free run."
        )
    return Passed(f"honest updates reach {honest:.1f} points, the attack's update {tightest:.1f}: no γ separates them.")
