"""Checks for Chapter 3's exercises (the server's stealth checks, §3.3 of the paper).

The checks read the verdicts the chapter's observe-mode runs recorded (:meth:`RunResult.checks_frame`):
each holds the statistic a check compared with its threshold — the accuracy gap g_i^t of
Eq. (eq-accuracy-check) and the relative distance excess e_i^t of Eq. (eq-distance-check) — and
flagging is ``statistic > threshold``, so any other threshold can be judged without training again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fedutils.analysis.detection import check_verdicts
from fedutils.attacks import AdversarialModel
from fedutils.book.exercises.base import AnswerError, Passed, require_answer, require_number, require_run
from fedutils.checks import CheckMode
from fedutils.errors import ConfigError
from fedutils.records import RunResult

ACCURACY = "accuracy"
DISTANCE = "distance"
PAPER_RHO = 1e-4
"""ρ of the paper's alternating minimisation, which the ρ exercise must raise."""
SURVIVES = 0.5
"""Target confidence above which the global model gives the target to the attacker's class."""
TOLERANCE = 1e-9
"""How far a threshold read off the records may be from the recomputed one."""


def _runs(value: Any, name: str) -> list[RunResult]:
    value = require_answer(value, name)
    if isinstance(value, RunResult):
        raise AnswerError(f"`{name}` must be the chapter's collection of runs (a list or a dict), not one run.")
    items = value.values() if isinstance(value, Mapping) else value
    try:
        items = list(items)
    except TypeError:
        raise AnswerError(f"`{name}` must be the chapter's collection of runs, not a {type(value).__name__}.") from None
    return [require_run(run, name) for run in items]


def _verdicts(run: RunResult, check: str, name: str) -> pd.DataFrame:
    """The run's recorded verdicts of ``check``; :class:`AnswerError` if it ran without that check."""
    try:
        return check_verdicts(run, check)
    except ConfigError:
        raise AnswerError(f"`{name}` has no verdicts of the {check} check: run it with the server's checks.") from None


def _honest_statistics(runs: Sequence[RunResult], check: str, name: str) -> pd.Series:
    frames = [_verdicts(run, check, name) for run in runs]
    pooled = pd.concat(frames)
    return pooled.loc[~pooled["is_malicious"], "statistic"]


def _attacked(runs: Any, name: str) -> dict[str, RunResult]:
    """The runs of the chapter's ``{label: run}`` dict that have an attacker."""
    runs = require_answer(runs, name)
    if not isinstance(runs, Mapping):
        raise AnswerError(f"`{name}` must be the chapter's dict of runs by label, not a {type(runs).__name__}.")
    return {label: run for label, run in runs.items() if require_run(run, name).config.attack is not None}


def _per_attacked_run(value: Any, name: str, attacked: Mapping[str, RunResult], what: str) -> Mapping[str, Any]:
    """An answer that is a dict from the label of each attacked run of ``runs`` to ``what``."""
    answer = require_answer(value, name)
    if not isinstance(answer, Mapping):
        raise AnswerError(f"`{name}` must be a dict from run label to {what}, not a {type(answer).__name__}.")
    if set(answer) != set(attacked):
        raise AnswerError(
            f"`{name}` must have one entry per attacked run of `runs`, {sorted(attacked)}, "
            f"not {sorted(map(str, answer))}."
        )
    return answer


def strictest_gamma(calibration: Sequence[RunResult]) -> float:
    """The largest accuracy gap g_i^t of any honest update in the calibration runs: the strictest γ that flags none."""
    return float(_honest_statistics(_runs(calibration, "calibration"), ACCURACY, "calibration").max())


def check_strict_gamma(strict_gamma: float, calibration: Sequence[RunResult]) -> Passed:
    """``strict_gamma`` is the largest accuracy gap an honest update showed in the calibration runs."""
    expected = strictest_gamma(calibration)
    gamma = require_number(strict_gamma, "strict_gamma", "a threshold (a fraction)")
    if math.isclose(gamma, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
        return Passed(f"γ = {100 * expected:.1f} points: the largest gap of an honest update in the calibration runs.")
    if math.isclose(gamma, 100 * expected, rel_tol=1e-6):
        raise AnswerError("`strict_gamma` is in points: give a fraction, like the statistics (0.01 = 1 point).")
    honest = _honest_statistics(_runs(calibration, "calibration"), ACCURACY, "calibration")
    if gamma < expected:
        flagged = int((honest > gamma).sum())
        raise AnswerError(
            f"γ = {gamma:.4f} flags {flagged} honest update(s) of the calibration runs: the largest honest gap, "
            f"{expected:.4f}, is the strictest γ that flags none."
        )
    raise AnswerError(
        f"γ = {gamma:.4f} is looser than it needs to be: no honest gap in the calibration runs exceeds {expected:.4f}, "
        "so that is the strictest γ that flags none."
    )


def check_strict_catches(
    strict_flagged: dict[str, int],
    strict_false_alarms: int,
    calibration: Sequence[RunResult],
    runs: dict[str, RunResult],
) -> Passed:
    """At γ = the calibration runs' largest honest gap, ``strict_flagged`` counts the rounds in which the accuracy
    check flags each attacked run's attacker, and ``strict_false_alarms`` the honest updates of ``runs`` it flags."""
    gamma = strictest_gamma(calibration)
    attacked = _attacked(runs, "runs")
    answer = _per_attacked_run(strict_flagged, "strict_flagged", attacked, "rounds")
    for label, run in attacked.items():
        verdicts = _verdicts(run, ACCURACY, "runs")
        malicious = verdicts[verdicts["is_malicious"]]
        expected = int((malicious["statistic"] > gamma).sum())
        if require_answer(answer[label], "strict_flagged") != expected:
            at_default = int(malicious["flagged"].sum())
            why = (
                " — that is the count at the run's own γ; recount with statistic > strict_gamma"
                if answer[label] == at_default
                else ""
            )
            raise AnswerError(
                f"at γ = {gamma:.4f} the accuracy check flags the attacker of {label!r} in {expected} of "
                f"{len(malicious)} rounds, not {answer[label]}{why}."
            )
    alarms = require_answer(strict_false_alarms, "strict_false_alarms")
    honest = pd.concat([_verdicts(run, ACCURACY, "runs") for run in _runs(runs, "runs")])
    honest = honest[~honest["is_malicious"]]
    expected_alarms = int((honest["statistic"] > gamma).sum())
    if alarms != expected_alarms:
        raise AnswerError(
            f"at γ = {gamma:.4f} the accuracy check flags {expected_alarms} of the {len(honest)} honest updates "
            f"of `runs`, not {alarms}."
        )
    caught = [repr(label) for label, rounds in answer.items() if rounds]
    return Passed(
        f"at γ = {100 * gamma:.1f} points the accuracy check catches {' and '.join(caught) or 'no attacker'} "
        f"and flags {expected_alarms} honest update(s)."
    )


def separating_window(runs: dict[str, RunResult], calibration: Sequence[RunResult], label: str) -> tuple[float, float]:
    """(the largest distance excess of any honest update, the attacker of ``label``'s smallest excess over its rounds).

    A κ separates that attacker from the honest agents when ``low <= κ < high``: flagging is ``excess > κ``.
    """
    honest_runs = [*_runs(runs, "runs"), *_runs(calibration, "calibration")]
    low = float(_honest_statistics(honest_runs, DISTANCE, "runs").max())
    verdicts = _verdicts(runs[label], DISTANCE, "runs")
    high = float(verdicts.loc[verdicts["is_malicious"], "statistic"].min())
    return low, high


def check_separating_kappa(
    separating_kappa: dict[str, float | None], runs: dict[str, RunResult], calibration: Sequence[RunResult]
) -> Passed:
    """For each attacked run, ``separating_kappa`` is a κ at which the distance check flags the attacker in every
    round and no honest update (of ``runs`` or the calibration runs), or ``None`` where no κ does."""
    attacked = _attacked(runs, "runs")
    answer = _per_attacked_run(separating_kappa, "separating_kappa", attacked, "κ")
    notes = []
    for label in attacked:
        low, high = separating_window(runs, calibration, label)
        kappa = answer[label]
        if kappa is Ellipsis:
            require_answer(kappa, "separating_kappa")
        if high <= low:
            if kappa is not None:
                raise AnswerError(
                    f"no κ separates {label!r}: its smallest excess, {high:.4f}, is not above the largest honest "
                    f"one, {low:.4f}, so a κ that catches it in every round also flags an honest update; answer None."
                )
            notes.append(f"{label}: none")
            continue
        if kappa is None:
            raise AnswerError(
                f"{label!r} can be separated: any κ from {low:.4f} (the largest honest excess) up to, not "
                f"including, {high:.4f} (its smallest) flags it in every round and no honest update."
            )
        kappa = require_number(kappa, "separating_kappa", "a threshold or None")
        if kappa < low:
            raise AnswerError(f"κ = {kappa:.4f} for {label!r} flags honest updates: one showed an excess of {low:.4f}.")
        if kappa >= high:
            verdicts = _verdicts(attacked[label], DISTANCE, "runs")
            malicious = verdicts[verdicts["is_malicious"]]
            missed = malicious.loc[malicious["statistic"] <= kappa, "round"].tolist()
            raise AnswerError(
                f"κ = {kappa:.4f} for {label!r} lets the attacker through in round(s) {missed}: its excess there "
                f"is at most κ."
            )
        notes.append(f"{label}: κ = {kappa:.3f} in [{low:.3f}, {high:.3f})")
    return Passed("each κ flags its attacker in every round and no honest update; " + "; ".join(notes) + ".")


def check_rho(rho_run: RunResult, rho_in_band: bool, rho_survives: bool) -> Passed:
    """``rho_run`` is the alternating attack aimed at ŵ_G with ρ raised above 10⁻⁴, observed by the server's checks;
    ``rho_in_band`` says whether the distance check passed its update in every round, ``rho_survives`` whether the
    global model still gives the target more than 0.5 after the last round."""
    rho_run = require_run(rho_run, "rho_run", attack="alternating")
    attack = rho_run.config.attack
    if attack.adversarial_model is not AdversarialModel.GLOBAL_ESTIMATE:
        raise AnswerError(
            "`rho_run` must aim at the attacker's estimate of the next global model "
            f"(adversarial_model=AdversarialModel.GLOBAL_ESTIMATE), not {attack.adversarial_model.value!r}."
        )
    rho = attack.rho
    if rho is None or rho <= PAPER_RHO:
        raise AnswerError(f"`rho_run` must raise ρ above the paper's {PAPER_RHO:g}, not use ρ = {rho}.")
    mode = None if rho_run.config.checks is None else rho_run.config.checks.mode.value
    if mode != CheckMode.OBSERVE.value:
        raise AnswerError(
            "`rho_run` must run with the chapter's observing checks (benign_config), so that the verdicts are "
            f"recorded without changing training, not with mode {mode!r}."
        )
    verdicts = _verdicts(rho_run, DISTANCE, "rho_run")
    flagged = verdicts.loc[verdicts["is_malicious"] & verdicts["flagged"], "round"].tolist()
    in_band = not flagged
    if bool(require_answer(rho_in_band, "rho_in_band")) != in_band:
        where = f"flags it in round(s) {flagged}" if flagged else "never flags it"
        raise AnswerError(f"`rho_in_band` should be {in_band}: the distance check {where}.")
    confidence = rho_run.records[-1].target_confidence
    survives = confidence > SURVIVES
    if bool(require_answer(rho_survives, "rho_survives")) != survives:
        raise AnswerError(
            f"`rho_survives` should be {survives}: after round {rho_run.rounds} the global model gives the target "
            f"{confidence:.2f}, {'above' if survives else 'not above'} {SURVIVES}."
        )
    return Passed(
        f"with ρ = {rho:g} the update is {'inside' if in_band else 'outside'} the band "
        f"({len(flagged)} of {rho_run.rounds} rounds flagged) and the target ends at {confidence:.2f}."
    )
