"""Checks for Chapter 6's exercises (estimating the other agents' update, §3.2 of the paper).

The attacker's previous-step estimate of the others' update is last round's:
δ̂^t_{[k]∖m} = δ^{t−1}_{[k]∖m} (eq. ``eq-previous-step`` of the chapter). With
the kept updates of a run, the others' actual share in round t is
a_t = Σ_{i ≠ m} α_i δ_i^t, and the estimate for round t is e_t = a_{t−1}.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from fedutils.attacks import Estimation
from fedutils.book.exercises.base import AnswerError, Passed, require_answer, require_mapping, require_run
from fedutils.records import RunResult

ATTACK = "explicit_boosting"
TOLERANCE = 1e-3
"""Absolute tolerance on a cosine, a relative error or a scale factor."""


def others_shares(kept: RunResult, include_attacker: bool = False) -> dict[int, torch.Tensor]:
    """Per kept round t, the others' share a_t = Σ_{i ≠ m} α_i δ_i^t (with the attacker's too if asked)."""
    weight = kept.config.aggregation_weight
    shares = {}
    for round_index in sorted(kept.updates):
        benign, malicious = kept.benign_and_malicious_updates(round_index)
        total = benign.sum(0) if malicious is None or not include_attacker else benign.sum(0) + malicious
        shares[round_index] = weight * total.double()
    return shares


def estimated_rounds(kept: RunResult) -> list[int]:
    """The rounds t whose updates and the previous round's were both kept: where the estimate can be compared."""
    return [t for t in sorted(kept.updates) if t - 1 in kept.updates]


def estimate_quality(kept: RunResult, include_attacker: bool = False) -> dict[int, dict[str, float]]:
    """Per round t of :func:`estimated_rounds`, how the estimate e_t = a_{t−1} compares with the actual share a_t.

    Keys: ``cosine`` of (e_t, a_t), ``relative_error`` ‖a_t − e_t‖ / ‖a_t‖, ``error_over_estimate``
    ‖a_t − e_t‖ / ‖e_t‖, ``best_scale`` ⟨a_t, e_t⟩ / ‖e_t‖² (the least-squares c in c·e_t) and
    ``norm_ratio`` ‖a_t‖ / ‖e_t‖.
    """
    shares = others_shares(kept, include_attacker)
    quality = {}
    for t in estimated_rounds(kept):
        estimate, actual = shares[t - 1], shares[t]
        error = (actual - estimate).norm()
        quality[t] = {
            "cosine": float(torch.nn.functional.cosine_similarity(estimate, actual, dim=0)),
            "relative_error": float(error / actual.norm()),
            "error_over_estimate": float(error / estimate.norm()),
            "best_scale": float(actual @ estimate / (estimate @ estimate)),
            "norm_ratio": float(actual.norm() / estimate.norm()),
        }
    return quality


def _require_kept(kept: Any) -> tuple[RunResult, list[int]]:
    kept = require_run(kept, "kept", attack=ATTACK)
    rounds = estimated_rounds(kept)
    if not rounds:
        raise AnswerError(
            "`kept` must have kept the updates of two consecutive rounds (keep_updates), "
            "like Chapter 2's run, groups[('explicit_boosting', 'none')][0]."
        )
    return kept, rounds


def _round_map(value: Any, name: str, rounds: list[int]) -> dict[int, float]:
    """The answer as {round: number} over exactly ``rounds``, or :class:`AnswerError`."""
    return require_mapping(value, name, rounds, int, float, key_label="round t", value_label="a number")


def _matches(answer: Mapping[int, float], expected: Mapping[int, float]) -> bool:
    return all(math.isclose(answer[t], expected[t], abs_tol=TOLERANCE) for t in expected)


def check_estimate_quality(estimate_cosine: Any, relative_error: Any, kept: RunResult) -> Passed:
    """Per round t, the cosine between the estimate e_t = a_{t−1} and the others' actual share a_t, and
    ‖a_t − e_t‖ / ‖a_t‖, recomputed from the kept updates (the others exclude the attacker, eq. previous-step)."""
    kept, rounds = _require_kept(kept)
    cosines = _round_map(estimate_cosine, "estimate_cosine", rounds)
    errors = _round_map(relative_error, "relative_error", rounds)
    quality = estimate_quality(kept)
    with_attacker = estimate_quality(kept, include_attacker=True)
    for name, answer, column in (("estimate_cosine", cosines, "cosine"), ("relative_error", errors, "relative_error")):
        expected = {t: quality[t][column] for t in rounds}
        if _matches(answer, expected):
            continue
        if _matches(answer, {t: with_attacker[t][column] for t in rounds}):
            raise AnswerError(
                f"`{name}` counts the attacker's own update among the others: the estimate is of the other "
                "agents' share Σ_{i ≠ m} α_i δ_i only, what the attacker cannot know."
            )
        if column == "relative_error" and _matches(answer, {t: quality[t]["error_over_estimate"] for t in rounds}):
            raise AnswerError(
                "`relative_error` divides by the estimate's norm: the error is relative to the actual share, "
                "‖actual − estimate‖ / ‖actual‖."
            )
        shown = ", ".join(f"t = {t}: {expected[t]:.3f}" for t in rounds)
        raise AnswerError(f"`{name}` should be {shown}: compare the others' share of round t with that of round t − 1.")
    worst = max(rounds, key=lambda t: errors[t])
    return Passed(
        f"the estimate's cosine with the actual share and its relative error are right for rounds "
        f"{', '.join(map(str, rounds))}; it is worst at t = {worst}."
    )


def check_best_scale(best_scale: Any, kept: RunResult) -> Passed:
    """Per round t, the least-squares factor c = ⟨a_t, e_t⟩ / ‖e_t‖² that brings c·e_t closest to a_t.

    c < 1/2 exactly when the plain estimate (c = 1) is farther from a_t than no estimate at all
    (c = 0), that is when the relative error of the first exercise exceeds 1.
    """
    kept, rounds = _require_kept(kept)
    answer = _round_map(best_scale, "best_scale", rounds)
    quality = estimate_quality(kept)
    expected = {t: quality[t]["best_scale"] for t in rounds}
    if _matches(answer, expected):
        below_half = [t for t in rounds if expected[t] < 0.5]
        rounds_word = "round" if len(below_half) == 1 else "rounds"
        worse = (
            f"; in {rounds_word} {', '.join(map(str, below_half))} c < 1/2: the plain estimate did worse than none"
            if below_half
            else ""
        )
        return Passed(f"the best damping of the estimate is right for rounds {', '.join(map(str, rounds))}{worse}.")
    if all(math.isclose(answer[t], 1.0, abs_tol=TOLERANCE) for t in rounds):
        raise AnswerError(
            "`best_scale` of 1 is the plain estimate; the best c minimises ‖a_t − c e_t‖, c = ⟨a_t, e_t⟩ / ‖e_t‖²."
        )
    if _matches(answer, {t: quality[t]["norm_ratio"] for t in rounds}):
        raise AnswerError(
            "`best_scale` is the ratio of the norms, which ignores the angle between the estimate and the actual "
            "share: the least-squares c is ⟨a_t, e_t⟩ / ‖e_t‖² = cos · ‖a_t‖ / ‖e_t‖."
        )
    if _matches(answer, {t: estimate_quality(kept, include_attacker=True)[t]["best_scale"] for t in rounds}):
        raise AnswerError("`best_scale` counts the attacker's own update among the others' share.")
    shown = ", ".join(f"t = {t}: {expected[t]:.3f}" for t in rounds)
    raise AnswerError(f"`best_scale` should be {shown}: the c that minimises ‖a_t − c e_t‖ is ⟨a_t, e_t⟩ / ‖e_t‖².")


def _mean_confidence(run: RunResult, rounds: list[int]) -> float:
    confidence = {record.round: record.target_confidence for record in run.records}
    return sum(confidence[t] for t in rounds) / len(rounds)


def check_pre_or_post(other_run: Any, better_use: Any, groups: Mapping[Any, list[RunResult]]) -> Passed:
    """``other_run`` is targeted poisoning with the previous-step estimate used the other way than the chapter's
    run of the same seed (``groups[("explicit_boosting", "previous")]``), and ``better_use`` is the use whose
    global model gives the target the higher mean confidence over the rounds both ran (SPEC §5.4)."""
    other_run = require_run(other_run, "other_run", attack=ATTACK)
    attack = other_run.config.attack
    if attack.estimation is not Estimation.PREVIOUS:
        raise AnswerError(
            f"`other_run` must use the previous-step estimate (estimation='previous'), not {attack.estimation.value}."
        )
    chapter_runs = (groups or {}).get((ATTACK, "previous"), [])
    same_seed = [run for run in chapter_runs if run.config.seed == other_run.config.seed]
    if not same_seed:
        raise AnswerError(
            f"`other_run` has seed {other_run.config.seed}, which none of the chapter's runs with the "
            "estimate has: rebuild one of them."
        )
    chapter_run = same_seed[0]
    chapter_use = chapter_run.config.attack.estimation_use
    if attack.estimation_use is chapter_use:
        raise AnswerError(
            f"`other_run` uses the estimate as the chapter does (estimation_use={chapter_use.value!r}): "
            "rebuild it with the other use."
        )
    better_use = require_answer(better_use, "better_use")
    if better_use not in ("pre", "post"):
        raise AnswerError(f"`better_use` must be 'pre' or 'post', not {better_use!r}.")
    rounds = sorted({r.round for r in other_run.records} & {r.round for r in chapter_run.records})
    means = {
        chapter_use.value: _mean_confidence(chapter_run, rounds),
        attack.estimation_use.value: _mean_confidence(other_run, rounds),
    }
    if math.isclose(means["pre"], means["post"], abs_tol=1e-9):
        return Passed(f"both uses give the same mean target confidence ({means['pre']:.3f}) over rounds {rounds}.")
    expected = max(means, key=means.__getitem__)
    if better_use != expected:
        raise AnswerError(
            f"over rounds {rounds[0]}–{rounds[-1]} the mean target confidence is {means['pre']:.3f} with 'pre' and "
            f"{means['post']:.3f} with 'post', so `better_use` is {expected!r}."
        )
    return Passed(
        f"'{expected}' gives the higher mean target confidence: {means['pre']:.3f} ('pre') against "
        f"{means['post']:.3f} ('post') over rounds {rounds[0]}–{rounds[-1]}."
    )
