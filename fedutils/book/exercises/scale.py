"""Checks for Chapter 10's exercises: 100 agents drawn ten at a time, ten targets, non-IID splits.

The settings are the talk's many-agent and many-target experiments (SPEC §2.2, §2.4) on top of
the paper's FedAvg (§2: k agents, a fraction C drawn per round, weights α_i = 1/k), explicit
boosting (§3.1) and the distance check on weight-update statistics (§3.3, SPEC §6.2).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from numbers import Real
from typing import Any

import pandas as pd

from fedutils.analysis import checks_frame
from fedutils.book.exercises.base import AnswerError, Passed, attack_name, require_answer, require_run
from fedutils.records import RunResult

ATTACK = "explicit_boosting"
DISTANCE = "distance"
"""The name under which the distance check records its verdicts (``checks_frame()["check"]``)."""
SHARE_TOLERANCE = 0.005
"""How far an answer's weight share may be from the exact one (two decimals are enough)."""


def _effective_boost(run: RunResult) -> float:
    """λ of an explicit-boosting run: its ``boost``, or 1/α_m = k when the attack leaves it to the server's weight."""
    boost = run.config.attack.boost
    return float(boost) if boost is not None else 1.0 / run.config.aggregation_weight


def _boosted_runs(many_runs: Any) -> dict[float, RunResult]:
    """The explicit-boosting runs among ``many_runs``, keyed by their λ."""
    many_runs = require_answer(many_runs, "many_runs")
    if not isinstance(many_runs, Mapping):
        raise AnswerError(f"`many_runs` must map labels to runs (run_many's result), not a {type(many_runs).__name__}.")
    runs = [require_run(run, f"many_runs[{label!r}]") for label, run in many_runs.items()]
    boosted = {_effective_boost(run): run for run in runs if attack_name(run) == ATTACK}
    if not boosted:
        raise AnswerError("`many_runs` holds no explicit-boosting run whose boost the exercise could examine.")
    return boosted


def attacker_weight_share(run: RunResult) -> float:
    """The attacker's share of the weights in a round's step when it is drawn: λα_m / (λα_m + Σ_{j≠m} α_j).

    FedAvg adds Σ_i α_i δ_i over the k·C agents drawn (§2), each α_i = 1/k; explicit boosting sends
    λ δ̃ (§3.1), so its coefficient is λ/k beside the (k·C − 1)/k of the honest agents drawn with it.
    """
    config = run.config
    alpha = config.aggregation_weight
    boost = _effective_boost(run)
    honest = config.agents_per_round - 1
    return boost * alpha / (boost * alpha + honest * alpha)


def ever_hit(run: RunResult) -> bool:
    """Whether the run's global model gives the (first) target the attacker's class after some round."""
    return any(record.targets[0].hit for record in run.records)


def check_boost_share(attacker_share: Any, ten_is_enough: Any, many_runs: Any) -> Passed:
    """``attacker_share`` maps each explicit-boosting run's λ to its weight share of the step, and
    ``ten_is_enough`` says whether the λ = 10 run ever puts the target in the attacker's class (§2, §3.1)."""
    boosted = _boosted_runs(many_runs)
    attacker_share = require_answer(attacker_share, "attacker_share")
    if not isinstance(attacker_share, Mapping):
        raise AnswerError(
            f"`attacker_share` must be a dict from each boost λ to a share, not a {type(attacker_share).__name__}."
        )
    for boost, run in sorted(boosted.items(), reverse=True):
        if boost not in attacker_share:
            raise AnswerError(f"`attacker_share` has no entry for λ = {boost:g}: give one for every boosted run.")
        expected = attacker_weight_share(run)
        given = attacker_share[boost]
        if not isinstance(given, Real) or not math.isclose(given, expected, abs_tol=SHARE_TOLERANCE):
            raise AnswerError(
                f"`attacker_share[{boost:g}]` = {given!r} is not the attacker's share of the step's weights: "
                f"λ/k against the 1/k of each of the {run.config.agents_per_round - 1} "
                "honest agents drawn with it (not against all k agents, and not λ/k alone)."
            )
    if 10.0 not in boosted:
        raise AnswerError("`many_runs` must hold the run with ExplicitBoosting(boost=10.0) that the question is about.")
    ten_is_enough = require_answer(ten_is_enough, "ten_is_enough")
    expected_hit = ever_hit(boosted[10.0])
    if bool(ten_is_enough) != expected_hit:
        seen = "gives the target the attacker's class in some round" if expected_hit else "never gives the target"
        if not expected_hit:
            seen += " the attacker's class"
        raise AnswerError(
            f"`ten_is_enough` should be {expected_hit}: the λ = 10 run's global model {seen} "
            "(read which class it predicts, not its confidence alone)."
        )
    shares = ", ".join(f"λ = {b:g}: {attacker_weight_share(r):.2f}" for b, r in sorted(boosted.items(), reverse=True))
    return Passed(f"the attacker's weight shares ({shares}) and the λ = 10 verdict match these runs.")


def _attack_free(ten_runs: Mapping[Hashable, RunResult]) -> RunResult:
    free = [run for run in ten_runs.values() if run.config.attack is None]
    if len(free) != 1:
        raise AnswerError(f"`ten_runs` must hold exactly one run without an attack to compare with, not {len(free)}.")
    return free[0]


def own_hits_per_round(run: RunResult, attack_free: RunResult) -> list[int]:
    """Per round, the targets ``run``'s global model hits that ``attack_free``'s model of the same round misses."""
    if run.config.targets != attack_free.config.targets:
        raise AnswerError("the attacked and the attack-free runs of `ten_runs` must aim at the same targets.")
    return [
        sum(hit.hit and not free.hit for hit, free in zip(record.targets, free_record.targets, strict=True))
        for record, free_record in zip(run.records, attack_free.records, strict=False)
    ]


def free_target_indices(attack_free: RunResult) -> set[int]:
    """The test indices of the targets the attack-free model hits in at least one round."""
    return {target.index for record in attack_free.records for target in record.targets if target.hit}


def check_own_hits(free_targets: Any, own_hits: Any, ten_runs: Any) -> Passed:
    """``free_targets`` are the targets the attack-free model hits by itself, and ``own_hits`` maps each
    attacked run to the most targets it hits in one round that the attack-free model of that round misses
    (the talk's ten targets, SPEC §2.2)."""
    ten_runs = require_answer(ten_runs, "ten_runs")
    if not isinstance(ten_runs, Mapping):
        raise AnswerError(f"`ten_runs` must map labels to runs (run_many's result), not a {type(ten_runs).__name__}.")
    runs = {label: require_run(run, f"ten_runs[{label!r}]") for label, run in ten_runs.items()}
    attack_free = _attack_free(runs)
    free_targets = require_answer(free_targets, "free_targets")
    try:
        given_free = {int(index) for index in free_targets}
    except (TypeError, ValueError):
        raise AnswerError("`free_targets` must be a list of test indices (whole numbers).") from None
    expected_free = free_target_indices(attack_free)
    if given_free != expected_free:
        raise AnswerError(
            f"`free_targets` should list the {len(expected_free)} target(s) the attack-free run's model hits in "
            "some round (by test index), with no attacker at all."
        )
    own_hits = require_answer(own_hits, "own_hits")
    if not isinstance(own_hits, Mapping):
        raise AnswerError(f"`own_hits` must be a dict from each attacked run's label to a count, not {own_hits!r}.")
    attacked = {label: run for label, run in runs.items() if run is not attack_free}
    for label, run in attacked.items():
        if label not in own_hits:
            raise AnswerError(f"`own_hits` has no entry for {label!r}: give one for every attacked run in `ten_runs`.")
        per_round = own_hits_per_round(run, attack_free)
        expected = max(per_round, default=0)
        if own_hits[label] != expected:
            raw = max((record.targets_hit for record in run.records), default=0)
            why = (
                "it counts targets the attack-free model of the same round hits too; credit only the attacker's"
                if own_hits[label] == raw and raw != expected
                else "take, round by round, the targets hit that the attack-free model misses, then the largest"
            )
            raise AnswerError(f"`own_hits[{label!r}]` = {own_hits[label]!r} is not right: {why} count.")
    extra = sorted(set(own_hits) - set(attacked), key=str)
    if extra:
        raise AnswerError(f"`own_hits` should have one entry per attacked run, not also {extra}.")
    counts = ", ".join(f"{label}: {own_hits[label]}" for label in attacked)
    return Passed(f"{len(expected_free)} target(s) come free; the attackers' own hits at most ({counts}).")


def _split_frames(split_runs: Any) -> dict[Hashable, pd.DataFrame]:
    """The distance check's verdicts of every run, grouped by split (the first part of each key)."""
    split_runs = require_answer(split_runs, "split_runs")
    if not isinstance(split_runs, Mapping):
        raise AnswerError(f"`split_runs` must map (split, attack) to runs, not a {type(split_runs).__name__}.")
    frames: dict[Hashable, list[pd.DataFrame]] = {}
    for key, run in split_runs.items():
        run = require_run(run, f"split_runs[{key!r}]")
        checks = checks_frame(run)
        if checks.empty or DISTANCE not in set(checks["check"]):
            raise AnswerError(f"split_runs[{key!r}] ran without the distance check: give it checks=ServerChecks().")
        split = key[0] if isinstance(key, tuple) else key
        frames.setdefault(split, []).append(checks[checks["check"] == DISTANCE])
    return {split: pd.concat(parts, ignore_index=True) for split, parts in frames.items()}


def kappa_windows(split_runs: Mapping[Hashable, RunResult]) -> dict[Hashable, tuple[float, float]]:
    """Per split: (the largest relative excess of an honest update, the smallest of the attacker's), §3.3.

    The distance check flags an update whose excess is above κ, so a κ spares every honest update when
    it is at least the first number and flags the attacker in every round when it is below the second.
    """
    windows = {}
    for split, frame in _split_frames(split_runs).items():
        honest = frame.loc[~frame["is_malicious"], "statistic"]
        attacker = frame.loc[frame["is_malicious"], "statistic"]
        if honest.empty or attacker.empty:
            raise AnswerError(f"the runs of split {split!r} need both honest and attacked updates to set κ by.")
        windows[split] = (float(honest.max()), float(attacker.min()))
    return windows


def _close(given: Any, expected: float) -> bool:
    return isinstance(given, Real) and math.isclose(given, expected, rel_tol=1e-6, abs_tol=1e-9)


def check_kappa_window(kappa_window: Any, no_kappa: Any, split_runs: Any) -> Passed:
    """``kappa_window`` gives per split the κ range that flags every attacker and no honest update,
    and ``no_kappa`` lists the splits where that range is empty (§3.3, SPEC §6.2)."""
    expected = kappa_windows(split_runs)
    kappa_window = require_answer(kappa_window, "kappa_window")
    if not isinstance(kappa_window, Mapping):
        raise AnswerError(f"`kappa_window` must be a dict from each split to (low, high), not {kappa_window!r}.")
    for split, (low, high) in expected.items():
        if split not in kappa_window:
            raise AnswerError(f"`kappa_window` has no entry for the split {split!r}.")
        try:
            given_low, given_high = kappa_window[split]
        except (TypeError, ValueError):
            raise AnswerError(f"`kappa_window[{split!r}]` must be a pair (low, high).") from None
        if not _close(given_low, low):
            raise AnswerError(
                f"`kappa_window[{split!r}]`'s low end is not the largest relative excess of an honest update in "
                "that split's runs (both attacks): a smaller κ flags some honest agent."
            )
        if not _close(given_high, high):
            raise AnswerError(
                f"`kappa_window[{split!r}]`'s high end is not the attacker's smallest relative excess over the "
                "split's runs and rounds: a κ at or above it lets the attacker through in that round."
            )
    extra = sorted(set(kappa_window) - set(expected), key=str)
    if extra:
        raise AnswerError(f"`kappa_window` should have one entry per split, not also {extra}.")
    no_kappa = require_answer(no_kappa, "no_kappa")
    if isinstance(no_kappa, (str, bytes)) or not hasattr(no_kappa, "__iter__"):
        raise AnswerError(f"`no_kappa` must be a list of splits, not {no_kappa!r}.")
    empty = {split for split, (low, high) in expected.items() if low >= high}
    if set(no_kappa) != empty:
        raise AnswerError(
            "`no_kappa` should list exactly the splits whose window is empty, where the honest excess reaches "
            "the attacker's (a flag needs an excess strictly above κ)."
        )
    if empty:
        return Passed(f"the κ windows match; no κ separates the attacker in {', '.join(map(str, sorted(empty)))}.")
    return Passed("the κ windows match, and in every split some κ flags the attacker alone.")
