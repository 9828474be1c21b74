"""Chapter 10's exercise checks judge the reasoning on the student's own runs, on small real data."""

from __future__ import annotations

import pytest
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.analysis import checks_frame
from fedutils.attacks import ExplicitBoosting
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import scale as exercises
from fedutils.config import PartitionScheme
from fedutils.data.targets import Target, draw_paper_targets
from fedutils.run_options import DataSource
from fedutils.simulation.setup import prepare
from fedutils.training import logits


@pytest.fixture(scope="module")
def many_runs():
    """k = 20 agents, C = 0.5 (ten drawn a round), explicit boosting with λ = 1/α_m = 20 and with λ = 10."""
    many = preset("smoke", num_agents=20, participation=0.5, samples_per_agent=100, evaluate_agents=False)
    return {
        "λ = 1/α_m": run_experiment(many.replace(attack=ExplicitBoosting()), QUIET),
        "λ = 10": run_experiment(many.replace(attack=ExplicitBoosting(boost=10.0)), QUIET),
    }


def test_the_attackers_weight_share_counts_only_the_agents_drawn_with_it(many_runs):
    share = {20: 20 / (20 + 9), 10.0: 10 / (10 + 9)}
    assert exercises.attacker_weight_share(many_runs["λ = 10"]) == pytest.approx(share[10.0])
    enough = exercises.ever_hit(many_runs["λ = 10"])
    assert exercises.check_boost_share(share, enough, many_runs)
    assert exercises.check_boost_share({20: 0.69, 10: 0.53}, enough, many_runs), "two decimals are enough"
    with pytest.raises(AnswerError, match="share"):
        exercises.check_boost_share({20: 1.0, 10: 0.5}, enough, many_runs)  # λα_m alone, as if nobody else counted
    with pytest.raises(AnswerError, match="share"):
        exercises.check_boost_share({20: 20 / 39, 10: 10 / 29}, enough, many_runs)  # against all k agents
    with pytest.raises(AnswerError, match="no entry for λ = 10"):
        exercises.check_boost_share({20: share[20]}, enough, many_runs)
    with pytest.raises(AnswerError, match="ten_is_enough"):
        exercises.check_boost_share(share, not enough, many_runs)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_boost_share(..., enough, many_runs)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_boost_share(share, ..., many_runs)
    with pytest.raises(AnswerError, match=r"boost=10\.0"):
        exercises.check_boost_share({20: share[20]}, enough, {"λ = 1/α_m": many_runs["λ = 1/α_m"]})


@pytest.fixture(scope="module")
def ten_runs():
    """An attack-free and an explicit-boosting run on ten targets, five of which the clean model gets wrong itself.

    The clean model does not depend on the targets, so a first attack-free run shows which test images its
    final model misclassifies; those, aimed at the class it gives them, are hit without any attacker.
    """
    base = preset("smoke", samples_per_agent=100, evaluate_agents=False)
    clean = run_experiment(base, QUIET)
    dataset = prepare(base, DataSource(download=False)).dataset
    predicted = logits(clean.global_model(), dataset.test.x[:2000]).argmax(1)
    wrong = (predicted != dataset.test.y[:2000]).nonzero().flatten()[:5].tolist()
    free = [Target(index, int(predicted[index])) for index in wrong]
    paper = [t for t in draw_paper_targets(dataset.test.y.numpy(), 10) if t.index not in wrong][:5]
    ten = base.replace(targets=(*free, *paper))
    return {
        "no attack": run_experiment(ten, QUIET),
        "explicit boosting": run_experiment(ten.replace(attack=ExplicitBoosting()), QUIET),
    }


def test_own_hits_leave_out_what_the_clean_model_hits_by_itself(ten_runs):
    clean, attacked = ten_runs["no attack"], ten_runs["explicit boosting"]
    free = exercises.free_target_indices(clean)
    assert free, "the five misclassified targets must be hit without an attacker"
    own = max(exercises.own_hits_per_round(attacked, clean))
    raw = max(record.targets_hit for record in attacked.records)
    assert raw > own, "the attacked model should hit some of the free targets too"
    assert exercises.check_own_hits(sorted(free), {"explicit boosting": own}, ten_runs)
    with pytest.raises(AnswerError, match="attack-free model of the same round hits too"):
        exercises.check_own_hits(free, {"explicit boosting": raw}, ten_runs)
    with pytest.raises(AnswerError, match="free_targets"):
        exercises.check_own_hits([], {"explicit boosting": own}, ten_runs)
    with pytest.raises(AnswerError, match="no entry"):
        exercises.check_own_hits(free, {}, ten_runs)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_own_hits(free, ..., ten_runs)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_own_hits(..., {"explicit boosting": own}, ten_runs)
    with pytest.raises(AnswerError, match="exactly one run without an attack"):
        exercises.check_own_hits(free, {}, {"explicit boosting": attacked})


@pytest.fixture(scope="module")
def split_runs(checked_run):
    """The checked smoke run (IID) beside the same attack on a Dirichlet(0.1) split, both checks observing."""
    skewed = checked_run.config.replace(partition=PartitionScheme.DIRICHLET, dirichlet_alpha=0.1, keep_updates=())
    return {
        ("IID", "explicit boosting"): checked_run,
        ("Dirichlet α = 0.1", "explicit boosting"): run_experiment(skewed, QUIET),
    }


def test_the_kappa_window_is_read_off_both_checks_sides(split_runs):
    windows = exercises.kappa_windows(split_runs)
    assert set(windows) == {"IID", "Dirichlet α = 0.1"}
    empty = [split for split, (low, high) in windows.items() if low >= high]
    assert exercises.check_kappa_window(windows, empty, split_runs)
    low, high = windows["IID"]
    with pytest.raises(AnswerError, match="low end"):
        exercises.check_kappa_window(windows | {"IID": (0.10, high)}, empty, split_runs)  # the κ used, not the data's
    with pytest.raises(AnswerError, match="high end"):
        attacker = checks_frame(split_runs[("IID", "explicit boosting")]).query("check == 'distance' and is_malicious")
        exercises.check_kappa_window(windows | {"IID": (low, attacker["statistic"].max())}, empty, split_runs)
    with pytest.raises(AnswerError, match="no_kappa"):
        exercises.check_kappa_window(windows, [*empty, "IID"], split_runs)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_kappa_window(..., empty, split_runs)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_kappa_window(windows, ..., split_runs)


def test_the_kappa_window_needs_runs_with_the_distance_check(many_runs):
    with pytest.raises(AnswerError, match="distance check"):
        exercises.check_kappa_window({}, [], {("IID", "explicit boosting"): many_runs["λ = 10"]})
