"""Checks for Chapter 2's exercises (explicit boosting, §3.1 of the paper)."""

from __future__ import annotations

from fedutils.analysis.contributions import boost_outcomes
from fedutils.book.exercises.base import AnswerError, Passed, require_answer, require_run
from fedutils.records import RunResult

ATTACK = "explicit_boosting"
BOOSTS = tuple(range(1, 11))
"""The whole-number boosts λ′ = 1 … 10 the boost exercise searches."""
BOOST_ROUND = 2
"""The round whose global model the boost exercise rebuilds (the first after w_G^0 that the attack can flip)."""
BROKEN_BY = 20.0
"""Percentage points below the honest run that count as a broken global model."""
FLIPPED = 0.5
"""Target confidence above which the global model gives the target to the attacker's class."""


def smallest_flipping_boost(attacked: RunResult, round_index: int = BOOST_ROUND) -> int | None:
    """The smallest λ′ in :data:`BOOSTS` whose rebuilt round-``round_index`` model flips the target, else ``None``."""
    outcomes = boost_outcomes(attacked, round_index, BOOSTS)
    flipped = outcomes.index[outcomes["flipped"]]
    return int(flipped[0]) if len(flipped) else None


def check_smallest_boost(smallest_boost: int | None, attacked: RunResult) -> Passed:
    """The answer is the smallest boost that flips the target in round 2: a smaller one must not flip it."""
    attacked = require_run(attacked, "attacked", attack=ATTACK)
    if smallest_boost is Ellipsis:
        require_answer(smallest_boost, "smallest_boost")
    expected = smallest_flipping_boost(attacked)
    if smallest_boost == expected:
        if expected is None:
            return Passed(f"no boost up to {BOOSTS[-1]} flips the target in round {BOOST_ROUND} of this run.")
        return Passed(f"λ′ = {expected} is the smallest boost that flips the target in round {BOOST_ROUND}.")
    if expected is None:
        raise AnswerError(
            f"no boost from 1 to {BOOSTS[-1]} flips the target in round {BOOST_ROUND}, so the answer is None."
        )
    if smallest_boost is None:
        raise AnswerError(f"λ′ = {expected} flips the target in round {BOOST_ROUND}, so the answer is not None.")
    if smallest_boost not in BOOSTS:
        raise AnswerError(
            f"`smallest_boost` must be a whole number from 1 to {BOOSTS[-1]} (or None), not {smallest_boost!r}."
        )
    if smallest_boost > expected:
        raise AnswerError(f"λ′ = {smallest_boost} flips the target, but a smaller boost already does: look below it.")
    raise AnswerError(f"λ′ = {smallest_boost} is too small: the benign share still keeps the target in its true class.")


def first_broken_round(run: RunResult, honest: RunResult) -> int | None:
    """The first round whose validation accuracy is more than :data:`BROKEN_BY` points below the honest run's."""
    honest_accuracy = {record.round: record.val_accuracy for record in honest.records}
    for record in run.records:
        if record.round in honest_accuracy and honest_accuracy[record.round] - record.val_accuracy > BROKEN_BY / 100:
            return record.round
    return None


def check_stop_rule(greedy: RunResult, broken_round: int | None, benign: RunResult) -> Passed:
    """``greedy`` uses the authors' stopping rule, and ``broken_round`` is read off it against the honest run."""
    greedy = require_run(greedy, "greedy", attack=ATTACK)
    stop_loss = greedy.config.attack.stop_loss
    if stop_loss is None or stop_loss > 1e-6:
        raise AnswerError(
            f"`greedy` must train until the target loss is at most 1e-6 (stop_loss=1e-6), not {stop_loss}."
        )
    if broken_round is Ellipsis:
        require_answer(broken_round, "broken_round")
    expected = first_broken_round(greedy, require_run(benign, "benign"))
    if broken_round != expected:
        raise AnswerError(
            f"`broken_round` should be {expected}: the first round at which `greedy`'s validation accuracy is more "
            f"than {BROKEN_BY:g} points below the honest run's (None if it never is)."
        )
    if expected is None:
        return Passed("this run's global model is never broken by the greedy attacker.")
    return Passed(f"the server sees the damage in round {expected}: the global model is broken there.")


def check_more_steps(longer: RunResult, flips_sooner: bool, attacked: RunResult) -> Passed:
    """``longer`` runs 20 Adam steps, and ``flips_sooner`` compares when its target first passes 0.5 with 5 steps."""
    longer = require_run(longer, "longer", attack=ATTACK)
    if longer.config.attack.epochs != 20:
        raise AnswerError(f"`longer` must run ExplicitBoosting(epochs=20), not epochs={longer.config.attack.epochs}.")
    flips_sooner = require_answer(flips_sooner, "flips_sooner")
    attacked = require_run(attacked, "attacked", attack=ATTACK)
    with_20 = longer.rounds_to_confidence(FLIPPED)
    with_5 = attacked.rounds_to_confidence(FLIPPED)
    expected = with_20 is not None and (with_5 is None or with_20 < with_5)
    if bool(flips_sooner) != expected:
        raise AnswerError(
            f"with 20 steps the target first passes {FLIPPED} in round {with_20}, with 5 steps in round {with_5}: "
            f"so `flips_sooner` is {expected}."
        )
    return Passed(f"20 steps: round {with_20}; 5 steps: round {with_5}.")
