"""Checks for Chapter 7's exercises (Byzantine-robust aggregation, §7 of SPEC; Bhagoji et al. 2019, §5).

Krum (Blanchard et al. 2017) keeps the update with the lowest score, the sum of
its distances to its n − f − 2 nearest neighbours; the coordinate-wise median
(Yin et al. 2018) takes each coordinate's median. The checks replay a kept
round of a run through the same pure functions the server used
(:mod:`fedutils.aggregators`), so they hold for any seed, preset or data.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from fedutils.aggregators import FedAvg, Krum, ServerContext, coordinate_median
from fedutils.analysis import krum_ranking
from fedutils.attacks import Anchor
from fedutils.book.exercises.base import AnswerError, Passed, require_answer, require_mapping, require_run
from fedutils.models import build_model, weight_mask
from fedutils.records import RunResult

ATTACK = "alternating"
SCALES = (0.0, 0.25, 0.5, 1.0, 2.0, 10.0, 100.0)
"""The factors s by which the Krum exercise scales the attacker's update."""
MEDIAN_BOOST = 100.0
"""The factor by which the median exercise boosts the attacker's update (against 1, as sent)."""
FRACTION_TOLERANCE = 1e-3
"""Absolute tolerance on a fraction of coordinates."""


def rule_name(run: RunResult) -> str:
    """The name of ``run``'s aggregation rule (``fedavg`` for the paper's server)."""
    return FedAvg.name if run.config.aggregator is None else run.config.aggregator.rule.name


def check_central(central: Any, best_rank: Any) -> Passed:
    """``central`` is alternating minimisation with a strong pull to the others' previous update
    (anchor ``others``, ρ = 1, λ = 2) against Krum, with kept updates; ``best_rank`` is the best
    (lowest) rank Krum's score gave the attacker in any kept round (1 is Krum's choice)."""
    central = require_run(central, "central", attack=ATTACK)
    attack = central.config.attack
    wanted = {"anchor": Anchor.OTHERS, "rho": 1.0, "boost": 2.0}
    wrong = {key: getattr(attack, key) for key, value in wanted.items() if getattr(attack, key) != value}
    if wrong:
        settings = ", ".join(f"{key}={str(value)!r}" for key, value in wrong.items())
        raise AnswerError(
            f"`central` must use anchor=Anchor.OTHERS, rho=1.0 and boost=2.0, but it ran with {settings}."
        )
    rule = rule_name(central)
    if rule != Krum.name:
        raise AnswerError(f"`central` must run against Krum (aggregator=krum_authors), not {rule}.")
    if not central.updates:
        raise AnswerError("`central` kept no updates to rank: run it on paper_base, which keeps them.")
    best_rank = require_answer(best_rank, "best_rank")
    ranks = krum_ranking(central)["attacker_rank"]
    expected = int(ranks.min())
    if best_rank != expected:
        by_round = ", ".join(f"round {t}: {int(rank)}" for t, rank in ranks.items())
        raise AnswerError(f"Krum ranked the attacker {by_round}, so `best_rank` is {expected}, not {best_rank!r}.")
    if expected == 1:
        return Passed(f"Krum chose the attacker's update (rank 1) in round {int(ranks.idxmin())}.")
    n = len(central.records[0].agents)
    return Passed(f"the attacker's best rank is {expected} of {n}: Krum never chose it.")


def _kept_round(kept_run: Any) -> tuple[RunResult, int, torch.Tensor, int]:
    """The run, its last kept round, that round's stacked updates, and the attacker's row in them."""
    kept_run = require_answer(kept_run, "kept_run")
    if not isinstance(kept_run, RunResult):
        raise AnswerError(f"`kept_run` must be a finished run, not a {type(kept_run).__name__}.")
    if not kept_run.updates:
        raise AnswerError("`kept_run` kept no updates: take one of `krum_runs`, which keep every round's.")
    round_index = max(kept_run.updates)
    agents = kept_run.records[round_index - 1].agents
    rows = [i for i, agent in enumerate(agents) if agent.is_malicious]
    if not rows:
        raise AnswerError(f"round {round_index} of `kept_run` has no attacker whose update could be scaled.")
    return kept_run, round_index, kept_run.updates[round_index], rows[0]


def _scaled(updates: torch.Tensor, row: int, scale: float) -> torch.Tensor:
    scaled = updates.clone()
    scaled[row] = scale * updates[row]
    return scaled


def medians_moved(updates: torch.Tensor, row: int, boost: float = MEDIAN_BOOST, lower: bool = False) -> float:
    """The fraction of coordinates whose median changes when row ``row`` is multiplied by ``boost``.

    ``lower`` takes the lower of the two middle values (``torch.median``) instead of their mean.
    """
    weights = torch.full((len(updates),), 1.0 / len(updates))

    def median(stack: torch.Tensor) -> torch.Tensor:
        return stack.median(dim=0).values if lower else coordinate_median(stack, weights).step

    return float((median(updates) != median(_scaled(updates, row, boost))).double().mean())


def median_bound(updates: torch.Tensor, row: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per coordinate, the lowest and highest median the row ``row`` can force, whatever it sends.

    With the other n − 1 values sorted, h_(1) ≤ … ≤ h_(n−1), the median of all n lies between the
    median with the row at −∞ and with it at +∞.
    """
    weights = torch.full((len(updates),), 1.0 / len(updates))
    honest = torch.cat([updates[:row], updates[row + 1 :]])
    far = honest.abs().max(dim=0).values + 1.0
    low = coordinate_median(torch.cat([honest, -far[None]]), weights).step
    high = coordinate_median(torch.cat([honest, far[None]]), weights).step
    return low, high


def check_median_moves(fraction_moved: Any, kept_run: Any) -> Passed:
    """``fraction_moved`` is the fraction of coordinates in which boosting the attacker's update of the
    last kept round a hundredfold changes the coordinate-wise median at all."""
    kept_run, round_index, updates, row = _kept_round(kept_run)
    fraction_moved = require_answer(fraction_moved, "fraction_moved")
    try:
        fraction_moved = float(fraction_moved)
    except (TypeError, ValueError):
        raise AnswerError(f"`fraction_moved` must be a number between 0 and 1, not {fraction_moved!r}.") from None
    expected = medians_moved(updates, row)
    low, high = median_bound(updates, row)
    boosted = coordinate_median(
        _scaled(updates, row, MEDIAN_BOOST), torch.full((len(updates),), 1.0 / len(updates))
    ).step
    inside = bool(((boosted >= low - 1e-6) & (boosted <= high + 1e-6)).all())
    if math.isclose(fraction_moved, expected, abs_tol=FRACTION_TOLERANCE):
        bound = "and every coordinate stays within the honest bound" if inside else "(the bound was violated!)"
        return Passed(
            f"boosting the attacker {MEDIAN_BOOST:g}-fold moves the median in {expected:.1%} of the coordinates "
            f"of round {round_index}, {bound}."
        )
    if math.isclose(fraction_moved, medians_moved(updates, row, lower=True), abs_tol=FRACTION_TOLERANCE):
        raise AnswerError(
            "`fraction_moved` uses torch.median, which takes the lower of the two middle values; with ten updates "
            "the server's median (coordinate_median) is the mean of the two."
        )
    raise AnswerError(
        f"`fraction_moved` should be {expected:.4f}: compare coordinate_median of round {round_index}'s updates as "
        f"sent with the one where the attacker's row is multiplied by {MEDIAN_BOOST:g}."
    )


def krum_choices(kept_run: RunResult, round_index: int, scales: tuple[float, ...] = SCALES) -> dict[float, int]:
    """Per scale s, the agent id Krum (the run's own settings) chooses when the attacker's update is s·δ_m."""
    rule = kept_run.config.aggregator
    server = ServerContext(weight_mask=weight_mask(build_model(kept_run.config.model)))
    updates = kept_run.updates[round_index]
    agents = kept_run.records[round_index - 1].agents
    row = next(i for i, agent in enumerate(agents) if agent.is_malicious)
    weights = torch.full((len(updates),), 1.0 / len(updates))
    choices = {}
    for scale in scales:
        selected = rule(_scaled(updates, row, scale), weights, server=server).selected
        choices[scale] = agents[int(selected.nonzero()[0])].agent_id
    return choices


def check_krum_outlier(krum_picks: Any, kept_run: Any) -> Passed:
    """``krum_picks`` maps each scale s of :data:`SCALES` to the agent Krum chooses in the last kept round
    when the attacker's update is replaced by s·δ_m (Krum with the run's own settings)."""
    kept_run, round_index, _, _ = _kept_round(kept_run)
    rule = rule_name(kept_run)
    if rule != Krum.name:
        raise AnswerError(f"`kept_run` must be a run against Krum (one of `krum_runs`), not {rule}.")
    answer = require_mapping(
        krum_picks, "krum_picks", SCALES, float, int, key_label="scale s", value_label="an agent id (a whole number)"
    )
    expected = krum_choices(kept_run, round_index)
    wrong = [s for s in SCALES if answer[s] != expected[s]]
    if wrong:
        s = wrong[0]
        raise AnswerError(
            f"at s = {s:g}, Krum chooses agent {expected[s]} in round {round_index}, not {answer[s]}: "
            "score every scaled stack with the run's own rule, "
            "kept_run.config.aggregator."
        )
    attacker = next(a.agent_id for a in kept_run.records[round_index - 1].agents if a.is_malicious)
    chosen = [s for s in SCALES if expected[s] == attacker]
    large = {expected[s] for s in SCALES if s >= 1}
    outlier = (
        "every s ≥ 1 leaves Krum's choice unchanged" if len(large) == 1 else "Krum's choice changes even for s ≥ 1"
    )
    picked = f"; it picks the attacker at s = {', '.join(f'{s:g}' for s in chosen)}" if chosen else ""
    return Passed(f"Krum's choices in round {round_index} are right: {outlier}{picked}.")
