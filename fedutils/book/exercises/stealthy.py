"""Checks for Chapter 4's exercises (stealthy model poisoning: the joint objective, §4 of the paper).

The attacker minimises its training loss, λ times the adversarial loss and ρ‖δ − δ_cons‖²
(the chapter's Eq. eq-stealthy); the server's stealth checks are those of §3.3. Every check
recomputes its answer from the student's runs: distance ranges from their kept updates, target
confidences from their records, the attacker's share of the step from :mod:`fedutils.analysis.contributions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fedutils.analysis import checks_frame, malicious_frame, rounds_frame
from fedutils.analysis.contributions import contribution_confidences
from fedutils.book.exercises.base import (
    AnswerError,
    Passed,
    attack_name,
    require_answer,
    require_run,
    require_same_settings,
    round_list,
)
from fedutils.checks.distance import distance_ranges
from fedutils.records import RunResult

ATTACK = "stealthy"
FLIPPED = 0.5
"""Target confidence (in the attacker's class) from which a model counts as giving the target to the attacker."""
HEAVIER_BOOST = 100.0
"""λ of the heavier-weight exercise (the talk's is 10)."""
CONFIDENCE_TOLERANCE = 0.005
"""How far a confidence read off a table (rounded to 2 or 3 decimals) may be from the recorded one."""
SHARE_COLUMN = "attacker's share"
MODEL_COLUMN = "attacker's model"
GLOBAL_COLUMN = "global model"

FREE_SETTINGS = ("attack", "max_rounds", "keep_updates")
"""Settings an exercise's run may choose for itself; everything else must be the chapter's run's."""


def _attack_options(run: RunResult) -> dict[str, Any]:
    """The run's attack options, with the default boost (None: λ = 1/α_m) written out as its value."""
    options = {} if run.config.attack is None else run.config.attack.to_dict()
    if options.get("boost") is None:
        options["boost"] = 1.0 / run.config.aggregation_weight
    return options


def require_variant(value: Any, name: str, reference: RunResult, reference_name: str, **changes: Any) -> RunResult:
    """``value`` as a run of ``reference``'s federation and attack with exactly ``changes`` to the attack's options.

    The number of rounds and the kept updates are free; a different seed, preset or attack option would make
    the comparison with ``reference`` unfair, so it is an :class:`AnswerError` naming what differs.
    """
    attack = attack_name(reference)
    run = require_run(value, name, attack=attack)
    options, expected = _attack_options(run), {**_attack_options(reference), **changes}
    for option, wanted in changes.items():
        if options.get(option) != wanted:
            raise AnswerError(f"`{name}` must run the attack with {option}={wanted!r}, not {options.get(option)!r}.")
    also = [key for key in expected if options.get(key) != expected[key]]
    if also:
        differences = ", ".join(f"{key}={options.get(key)!r} (not {expected[key]!r})" for key in also)
        raise AnswerError(
            f"`{name}` must change only {', '.join(changes)} of `{reference_name}`'s attack: {differences}."
        )
    require_same_settings(run, name, reference, reference_name, FREE_SETTINGS)
    return run


def _stealthy_run(value: Any, name: str, adversarial_model: str) -> RunResult:
    run = require_run(value, name, attack=ATTACK)
    used = run.config.attack.adversarial_model.value
    if used != adversarial_model:
        raise AnswerError(
            f"`{name}` must be the stealthy run with adversarial_model={adversarial_model!r}, not {used!r}."
        )
    return run


def farthest_distance(run: RunResult, round_index: int) -> float:
    """The largest L2 distance from the malicious update of ``round_index`` to a benign one (``distance_table``)."""
    return distance_ranges(*run.benign_and_malicious_updates(round_index)).update_max


def check_self_anchor(
    self_anchored: RunResult, closer: bool, target_flips: bool, stealthy: RunResult, histogram_round: int
) -> Passed:
    """``self_anchored`` changes only the anchor δ_cons of Eq. eq-stealthy to the attacker's own benign update;
    ``closer`` compares its farthest benign update in ``histogram_round`` with the others-anchored run's, and
    ``target_flips`` says whether its global model ever gives the target at least 0.5 (§4 of the paper)."""
    stealthy = _stealthy_run(stealthy, "stealthy", "attacker")
    self_anchored = require_variant(self_anchored, "self_anchored", stealthy, "stealthy", anchor="self")
    if histogram_round not in self_anchored.updates:
        raise AnswerError(
            f"`self_anchored` kept no updates of round {histogram_round}: run it from `stealthy_config`, which keeps "
            f"them, for `histogram_round` rounds."
        )
    closer = require_answer(closer, "closer")
    target_flips = require_answer(target_flips, "target_flips")
    own, others = farthest_distance(self_anchored, histogram_round), farthest_distance(stealthy, histogram_round)
    expected_closer = own < others
    if bool(closer) != expected_closer:
        relation = "nearer than" if expected_closer else "no nearer than"
        raise AnswerError(
            f"in round {histogram_round} the self-anchored update's farthest benign update lies {own:.2f} away, "
            f"{relation} the others-anchored update's {others:.2f}: so `closer` is {expected_closer}."
        )
    flipped_in = self_anchored.rounds_to_confidence(FLIPPED)
    if bool(target_flips) != (flipped_in is not None):
        peak = rounds_frame(self_anchored)["target_confidence"].max()
        raise AnswerError(
            f"the self-anchored run's global model gives the target at most {peak:.3f} in the attacker's class"
            + (f" (at least {FLIPPED} from round {flipped_in})" if flipped_in else f", never {FLIPPED}")
            + f": so `target_flips` is {flipped_in is not None}."
        )
    return Passed(
        f"anchored to itself the update lies up to {own:.2f} from the benign ones (others' anchor: {others:.2f}) in "
        f"round {histogram_round}, and the target {'flips' if flipped_in else 'does not flip'}."
    )


def accuracy_check_flags(run: RunResult) -> list[int]:
    """The rounds in which the server's accuracy check (γ, §3.3) flagged the run's malicious update."""
    verdicts = checks_frame(run)
    if verdicts.empty or "accuracy" not in set(verdicts["check"]):
        return []
    flagged = verdicts[(verdicts["check"] == "accuracy") & verdicts["is_malicious"] & verdicts["flagged"]]
    return sorted(int(r) for r in flagged["round"])


def check_heavier_boost(
    heavier: RunResult, global_peak: float, passes_accuracy_check: bool, stealthy: RunResult
) -> Passed:
    """``heavier`` is ``stealthy`` with the adversarial loss of Eq. eq-stealthy weighed by λ = 100 instead of 10;
    ``global_peak`` is its global model's highest target confidence, and ``passes_accuracy_check`` whether the
    server's accuracy check (§3.3) passed its malicious model in every round."""
    stealthy = _stealthy_run(stealthy, "stealthy", "attacker")
    heavier = require_variant(heavier, "heavier", stealthy, "stealthy", boost=HEAVIER_BOOST)
    global_peak = require_answer(global_peak, "global_peak")
    passes_accuracy_check = require_answer(passes_accuracy_check, "passes_accuracy_check")
    frame = rounds_frame(heavier)["target_confidence"]
    expected = float(frame.max())
    own = float(malicious_frame(heavier)["malicious_target_confidence"].max())
    try:
        value = float(global_peak)
    except (TypeError, ValueError):
        raise AnswerError(f"`global_peak` must be a number (a confidence), not {global_peak!r}.") from None
    if abs(value - expected) > CONFIDENCE_TOLERANCE:
        if abs(value - own) <= CONFIDENCE_TOLERANCE:
            raise AnswerError(
                f"{value:.3f} is the malicious model's own confidence in the target; `global_peak` asks for the "
                f"global model's, which is what the server's averaging leaves of it."
            )
        raise AnswerError(
            f"the global model of `heavier` gives the target at most {expected:.3f} (round {int(frame.idxmax())}), "
            f"not {value:.3f}."
        )
    if checks_frame(heavier).empty:
        raise AnswerError("`heavier` ran without the server's checks: run it from `stealthy_config`, which has them.")
    flags = accuracy_check_flags(heavier)
    if bool(passes_accuracy_check) != (not flags):
        where = f"flagged it in round(s) {', '.join(map(str, flags))}" if flags else "never flagged it"
        raise AnswerError(f"the accuracy check {where}: so `passes_accuracy_check` is {not flags}.")
    return Passed(
        f"with λ = {HEAVIER_BOOST:g} the global model reaches {expected:.3f} at most, and the accuracy check "
        + ("passes the malicious model in every round." if not flags else f"flags it in {len(flags)} round(s).")
    )


def share_flipping_rounds(run: RunResult) -> tuple[list[int], Any]:
    """The kept rounds whose w_G^{t−1} + α_m δ_m gives the target at least 0.5, and the full split of each round."""
    split = contribution_confidences(run)
    return [int(t) for t in split.index[split[SHARE_COLUMN] >= FLIPPED]], split


def _judge_share(answer: Iterable[int] | None, name: str, run: RunResult, label: str) -> list[int]:
    rounds = round_list(answer, name)
    expected, split = share_flipping_rounds(run)
    if rounds == expected:
        return expected
    for column, what in ((MODEL_COLUMN, "its whole update δ_m"), (GLOBAL_COLUMN, "the global model (both shares)")):
        if rounds == [int(t) for t in split.index[split[column] >= FLIPPED]]:
            raise AnswerError(
                f"`{name}` lists the rounds in which {what} gives the target {FLIPPED} or more; FedAvg adds only the "
                f"attacker's share α_m δ_m: evaluate w_G^(t-1) + α_m δ_m (the column {SHARE_COLUMN!r})."
            )
    wrong = sorted(set(rounds) ^ set(expected))[0]
    if wrong not in split.index:
        raise AnswerError(f"`{name}`: round {wrong} is not one of {label}'s kept rounds ({list(split.index)}).")
    confidence = split.loc[wrong, SHARE_COLUMN]
    side = "at least" if confidence >= FLIPPED else "below"
    raise AnswerError(
        f"in round {wrong} the attacker's share alone gives the target {confidence:.3f}, {side} {FLIPPED}: "
        f"so round {wrong} {'belongs' if confidence >= FLIPPED else 'does not belong'} in `{name}`."
    )


def check_attacker_share(
    own_share_flips: Iterable[int], aimed_share_flips: Iterable[int], stealthy: RunResult, aimed: RunResult
) -> Passed:
    """The rounds in which the attacker's share α_m δ_m alone (FedAvg's Eq. 1 of the paper, split as in
    Chapter 2) flips the target, for the loss at the attacker's own model (``stealthy``) and at ŵ_G (``aimed``)."""
    stealthy = _stealthy_run(stealthy, "stealthy", "attacker")
    aimed = _stealthy_run(aimed, "aimed", "global_estimate")
    own = _judge_share(own_share_flips, "own_share_flips", stealthy, "stealthy")
    at_global = _judge_share(aimed_share_flips, "aimed_share_flips", aimed, "aimed")
    return Passed(
        f"the share flips the target in round(s) {own or 'none'} with the loss at the attacker's own model, "
        f"{at_global or 'none'} with the loss at ŵ_G."
    )
