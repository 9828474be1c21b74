"""Chapter 4's exercise checks judge the reasoning on the student's own runs, on small real data."""

from __future__ import annotations

import dataclasses

import pytest
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.analysis import malicious_frame, rounds_frame
from fedutils.attacks import AdversarialModel, Anchor, StealthyPoisoning
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import stealthy as exercises
from fedutils.checks import ServerChecks

ROUND = 2
"""The smoke runs' last round: the histogram round of the chapter at smoke parameters."""


def _run(**attack_options):
    keep = () if attack_options.get("boost") else (1, 2)
    config = preset("smoke", attack=StealthyPoisoning(**attack_options), checks=ServerChecks(), keep_updates=keep)
    return run_experiment(config, QUIET)


@pytest.fixture(scope="module")
def stealthy():
    return _run()


@pytest.fixture(scope="module")
def aimed():
    return _run(adversarial_model=AdversarialModel.GLOBAL_ESTIMATE)


@pytest.fixture(scope="module")
def self_anchored():
    return _run(anchor=Anchor.SELF)


@pytest.fixture(scope="module")
def heavier():
    return _run(boost=100)


def test_the_self_anchor_answers_are_recomputed_from_the_kept_updates(self_anchored, stealthy):
    closer = exercises.farthest_distance(self_anchored, ROUND) < exercises.farthest_distance(stealthy, ROUND)
    flips = self_anchored.rounds_to_confidence(exercises.FLIPPED) is not None
    assert exercises.check_self_anchor(self_anchored, closer, flips, stealthy, ROUND)
    with pytest.raises(AnswerError, match="`closer` is"):
        exercises.check_self_anchor(self_anchored, not closer, flips, stealthy, ROUND)
    with pytest.raises(AnswerError, match="`target_flips` is"):
        exercises.check_self_anchor(self_anchored, closer, not flips, stealthy, ROUND)
    with pytest.raises(AnswerError, match="anchor='self'"):  # the chapter's own run, anchored to the others
        exercises.check_self_anchor(stealthy, closer, flips, stealthy, ROUND)
    reseeded = dataclasses.replace(self_anchored, config=self_anchored.config.replace(seed=1))
    with pytest.raises(AnswerError, match="also changes seed"):  # another seed is no fair comparison
        exercises.check_self_anchor(reseeded, closer, flips, stealthy, ROUND)
    with pytest.raises(AnswerError, match="kept no updates of round 3"):
        exercises.check_self_anchor(self_anchored, closer, flips, stealthy, 3)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_self_anchor(self_anchored, ..., flips, stealthy, ROUND)
    with pytest.raises(AnswerError, match="`self_anchored` has no answer yet"):
        exercises.check_self_anchor(..., closer, flips, stealthy, ROUND)


def test_the_heavier_boost_reads_the_global_model_not_the_attackers(heavier, stealthy):
    peak = float(rounds_frame(heavier)["target_confidence"].max())
    passes = not exercises.accuracy_check_flags(heavier)
    assert exercises.check_heavier_boost(heavier, peak, passes, stealthy)
    assert exercises.check_heavier_boost(heavier, round(peak, 3), passes, stealthy)  # read off a table
    own = float(malicious_frame(heavier)["malicious_target_confidence"].max())
    assert abs(own - peak) > exercises.CONFIDENCE_TOLERANCE, "the smoke attacker's own model should be surer"
    with pytest.raises(AnswerError, match="malicious model's own confidence"):
        exercises.check_heavier_boost(heavier, own, passes, stealthy)
    with pytest.raises(AnswerError, match="`passes_accuracy_check` is"):
        exercises.check_heavier_boost(heavier, peak, not passes, stealthy)
    with pytest.raises(AnswerError, match="boost=100"):  # λ = 10, the chapter's run
        exercises.check_heavier_boost(stealthy, peak, passes, stealthy)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_heavier_boost(heavier, ..., passes, stealthy)


def test_the_attackers_share_is_split_from_the_kept_rounds(stealthy, aimed):
    own, _ = exercises.share_flipping_rounds(stealthy)
    at_global, split = exercises.share_flipping_rounds(aimed)
    assert exercises.check_attacker_share(own, at_global, stealthy, aimed)
    assert exercises.check_attacker_share(tuple(own), set(at_global), stealthy, aimed)  # any collection of rounds
    whole_update = [int(t) for t in split.index[split[exercises.MODEL_COLUMN] >= exercises.FLIPPED]]
    assert whole_update != at_global or own != whole_update, "the smoke runs should tell model and share apart"
    if whole_update != own:
        with pytest.raises(AnswerError, match="whole update"):  # the attacker's model, not its share
            exercises.check_attacker_share(whole_update, at_global, stealthy, aimed)
    with pytest.raises(AnswerError, match="aimed_share_flips"):
        exercises.check_attacker_share(own, sorted(set(at_global) ^ {1}), stealthy, aimed)
    with pytest.raises(AnswerError, match="adversarial_model='global_estimate'"):  # the two runs swapped
        exercises.check_attacker_share(own, at_global, stealthy, stealthy)
    with pytest.raises(AnswerError, match="must list round numbers"):
        exercises.check_attacker_share(2, at_global, stealthy, aimed)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_attacker_share(..., at_global, stealthy, aimed)
