"""Checks for Chapter 5's exercises (alternating minimisation, §4 of the paper).

Boosted malicious steps alternate with stealth steps on the attacker's own loss plus
ρ‖δ − δ_cons‖² (the chapter's Eq. eq-stealth-objective). Every check recomputes its answer from
the student's runs: the malicious model's accuracy and the global target confidence from their
records, distance ranges from their kept updates, and the adversary's goal (§2 of the paper)
with :func:`fedutils.analysis.goal_met`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fedutils.analysis import accuracy_loss, goal_met, malicious_frame, rounds_frame
from fedutils.attacks import AdversarialModel, StepOrder
from fedutils.book.exercises.base import AnswerError, Passed, require_answer, require_number, require_run, round_list
from fedutils.book.exercises.stealthy import require_variant
from fedutils.checks.distance import distance_ranges
from fedutils.records import RunResult

ATTACK = "alternating"
POINTS_TOLERANCE = 0.05
"""Accuracy points: a mean of differences read off ``malicious_table`` (rounded to 0.01 points) may be this far off."""
DISTANCE_TOLERANCE = 0.015
"""L2 distance: a difference of two ends read off ``distance_table`` (rounded to 0.01) may be this far off."""
GOAL_CONFIDENCE = 0.9
"""The adversary's goal, first half: the global model gives the target at least this much in the attacker's class."""
GOAL_POINTS = 2.0
"""The adversary's goal, second half: the global model at most this many points below the honest run's."""


def _talk_run(value: Any, name: str) -> RunResult:
    """The chapter's run of the talk's version: gradient at the attacker's own model, malicious step first."""
    run = require_run(value, name, attack=ATTACK)
    options = run.config.attack
    if options.adversarial_model is not AdversarialModel.ATTACKER or options.order is not StepOrder.MALICIOUS_FIRST:
        raise AnswerError(f"`{name}` must be the chapter's run of the talk's version (AlternatingMinimisation()).")
    return run


def mean_accuracy_cost(one_to_one: RunResult, alternating: RunResult) -> float:
    """Mean over the rounds both ran of the ten-step malicious model's accuracy minus the one-step one's, in points."""
    ten, one = (malicious_frame(run)["malicious_val_accuracy"] for run in (alternating, one_to_one))
    shared = ten.index.intersection(one.index)
    return float(100 * (ten[shared] - one[shared]).mean())


def peaks(one_to_one: RunResult, alternating: RunResult) -> tuple[float, float]:
    """The highest global target confidence of each run over the rounds both ran: (one step, ten steps)."""
    one, ten = (rounds_frame(run)["target_confidence"] for run in (one_to_one, alternating))
    shared = one.index.intersection(ten.index)
    return float(one[shared].max()), float(ten[shared].max())


def check_stealth_ratio(
    one_to_one: RunResult, accuracy_cost: float, higher_peak: bool, alternating: RunResult
) -> Passed:
    """``one_to_one`` is the talk's version with one stealth step per malicious step (§4 of the paper);
    ``accuracy_cost`` is what that costs the malicious model's accuracy, and ``higher_peak`` whether its
    global model's target confidence peaks higher, both over the rounds both runs have."""
    alternating = _talk_run(alternating, "alternating")
    one_to_one = require_variant(one_to_one, "one_to_one", alternating, "alternating", stealth_steps=1)
    value = require_number(accuracy_cost, "accuracy_cost", "a number of accuracy points")
    higher_peak = require_answer(higher_peak, "higher_peak")
    expected = mean_accuracy_cost(one_to_one, alternating)
    if abs(value - expected) > POINTS_TOLERANCE:
        if abs(100 * value - expected) <= POINTS_TOLERANCE:
            raise AnswerError(f"`accuracy_cost` is in points (like malicious_table), not a fraction: {expected:.2f}.")
        if abs(value + expected) <= POINTS_TOLERANCE:
            raise AnswerError(
                "`accuracy_cost` has the wrong sign: it is the ten-step model's accuracy minus the one-step "
                "model's (positive when one stealth step costs accuracy)."
            )
        raise AnswerError(
            f"over the rounds both runs have, the malicious model is {expected:.2f} points less accurate on average "
            f"with one stealth step than with ten, not {value:.2f}."
        )
    one, ten = peaks(one_to_one, alternating)
    if bool(higher_peak) != (one > ten):
        raise AnswerError(
            f"the global model's target confidence peaks at {one:.3f} with one stealth step and {ten:.3f} with ten: "
            f"so `higher_peak` is {one > ten}."
        )
    return Passed(
        f"one stealth step costs the malicious model {expected:.2f} points on average; the global target "
        f"confidence peaks at {one:.3f} (ten steps: {ten:.3f})."
    )


def check_without_distance(
    unconstrained: RunResult, extra_distance: float, outside_band: bool, alternating: RunResult, histogram_round: int
) -> Passed:
    """``unconstrained`` drops the distance term (ρ = 0 in Eq. eq-stealth-objective); ``extra_distance`` is how much
    farther its farthest benign update lies in ``histogram_round`` than with ρ = 1e-4, and ``outside_band`` whether
    even its nearest benign update lies beyond the benign band's top (the distance statistics of §3.3)."""
    alternating = _talk_run(alternating, "alternating")
    unconstrained = require_variant(unconstrained, "unconstrained", alternating, "alternating", rho=0.0)
    for run, name in ((unconstrained, "unconstrained"), (alternating, "alternating")):
        if histogram_round not in run.updates:
            raise AnswerError(
                f"`{name}` kept no updates of round {histogram_round}: run it from `alternating_config`, which keeps "
                f"them, for `histogram_round` rounds."
            )
    value = require_number(extra_distance, "extra_distance", "an L2 distance")
    outside_band = require_answer(outside_band, "outside_band")
    without = distance_ranges(*unconstrained.benign_and_malicious_updates(histogram_round))
    with_term = distance_ranges(*alternating.benign_and_malicious_updates(histogram_round))
    expected = without.update_max - with_term.update_max
    if abs(value - expected) > DISTANCE_TOLERANCE:
        if abs(value + expected) <= DISTANCE_TOLERANCE:
            raise AnswerError("`extra_distance` has the wrong sign: it is the ρ = 0 distance minus the ρ = 1e-4 one.")
        raise AnswerError(
            f"in round {histogram_round} the farthest benign update lies {without.update_max:.2f} from the ρ = 0 "
            f"update and {with_term.update_max:.2f} from the ρ = 1e-4 one: `extra_distance` is {expected:.2f}, "
            f"not {value:.2f}."
        )
    beyond = without.update_min > without.band_max
    if bool(outside_band) != beyond:
        relation = "farther than" if beyond else "within"
        raise AnswerError(
            f"the ρ = 0 update's nearest benign update lies {without.update_min:.2f} away, {relation} the benign "
            f"band's top ({without.band_max:.2f}): so `outside_band` is {beyond}."
        )
    return Passed(
        f"without the distance term the update lies {expected:+.2f} farther out in round {histogram_round}, "
        + ("entirely outside the benign band." if beyond else "overlapping the benign band.")
    )


def _judge_goal(answer: Iterable[int] | None, name: str, run: RunResult, benign: RunResult) -> list[int]:
    rounds = round_list(answer, name)
    met = goal_met(run, benign, GOAL_CONFIDENCE, GOAL_POINTS)
    expected = [int(t) for t in met.index[met]]
    if rounds == expected:
        return expected
    confidence = rounds_frame(run)["target_confidence"]
    lost = accuracy_loss(run, benign)
    if rounds == [int(t) for t in lost.index if confidence[t] >= GOAL_CONFIDENCE]:
        worst = max((t for t in rounds if lost[t] > GOAL_POINTS), key=lambda t: lost[t])
        raise AnswerError(
            f"`{name}` lists every round with confidence {GOAL_CONFIDENCE:g} or more, but the goal also keeps the "
            f"global model accurate: in round {worst} it is {lost[worst]:.2f} points below the honest run's."
        )
    wrong = sorted(set(rounds) ^ set(expected))[0]
    if wrong not in lost.index:
        raise AnswerError(f"`{name}`: round {wrong} is not a round that both the run and `benign` have.")
    state = f"confidence {confidence[wrong]:.3f} and {lost[wrong]:.2f} points below the honest run"
    verdict = "meets" if wrong in expected else "misses"
    raise AnswerError(f"round {wrong} {verdict} the goal ({state}): check `{name}` against both halves.")


def check_goal_rounds(
    aimed_goal_rounds: Iterable[int],
    explicit_goal_rounds: Iterable[int],
    aimed: RunResult,
    explicit: RunResult,
    benign: RunResult,
) -> Passed:
    """The rounds in which each attack met the adversary's whole goal (§2 of the paper): the target at least 0.9
    in the attacker's class **and** the global model within 2 points of the honest run in the same round."""
    aimed = require_run(aimed, "aimed", attack=ATTACK)
    if aimed.config.attack.adversarial_model is not AdversarialModel.GLOBAL_ESTIMATE:
        raise AnswerError(
            "`aimed` must be the chapter's run with the gradient at ŵ_G (adversarial_model=GLOBAL_ESTIMATE)."
        )
    explicit = require_run(explicit, "explicit", attack="explicit_boosting")
    benign = require_run(benign, "benign")
    if benign.config.attack is not None:
        raise AnswerError("`benign` must be the honest run, without an attacker.")
    at_global = _judge_goal(aimed_goal_rounds, "aimed_goal_rounds", aimed, benign)
    boosted = _judge_goal(explicit_goal_rounds, "explicit_goal_rounds", explicit, benign)
    return Passed(
        f"the goal is met in round(s) {at_global or 'none'} by alternating minimisation aimed at ŵ_G and "
        f"{boosted or 'none'} by explicit boosting."
    )
