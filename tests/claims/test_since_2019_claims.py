"""The claims of the attacks and defenses after the paper, in its harness, checked in seconds on small real data
(the smoke preset: ten agents of 200 Fashion-MNIST images, the ``fast`` CNN), with each attack's paper's share of
attackers scaled to our n = 10 — and the failures their successors report, where our numbers show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest
import torch
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.aggregators import FedAvg, Krum, Median, NormClip, ServerRule, TrimmedMean
from fedutils.aggregators.bucketing import Bucketing
from fedutils.aggregators.centered_clipping import CenteredClipping
from fedutils.aggregators.flame import Flame
from fedutils.aggregators.fltrust import FLTrust
from fedutils.aggregators.foolsgold import FoolsGold
from fedutils.attacks import ALIE, IPM, ExplicitBoosting, MinMax, ModelReplacement, TailoredAttack


@dataclass(frozen=True)
class SameNormNoise(TailoredAttack):
    """The control: the same attackers send μ plus a random direction as long as ``of``'s perturbation."""

    name: ClassVar[str] = "same_norm_noise"
    needs_spread: ClassVar[bool] = True

    of: TailoredAttack = field(default_factory=ALIE)

    def craft(self, seen: torch.Tensor, n: int, f: int) -> torch.Tensor:
        mean = seen.mean(dim=0)
        length = (self.of.craft(seen, n, f) - mean).norm()
        direction = torch.randn(seen.shape[1], generator=torch.Generator().manual_seed(n), dtype=seen.dtype)
        return mean + length * direction / direction.norm()


def _accuracy(rounds: int, attack=None, rule=None, seed: int = 0, last: int = 1) -> float:
    """The mean validation accuracy of the last ``last`` rounds."""
    config = preset("smoke", max_rounds=rounds, seed=seed, attack=attack, aggregator=rule)
    records = run_experiment(config, QUIET).records
    return sum(record.val_accuracy for record in records[-last:]) / last


def test_ipm_with_a_large_epsilon_breaks_the_mean_but_not_the_median():
    """Xie et al.: ε ≥ 1 with enough attackers turns the mean backwards; the median keeps to the honest side."""
    attack = IPM(attackers=3, epsilon=10.0)
    assert _accuracy(4, attack, FedAvg()) < 0.3
    assert _accuracy(4, attack, Median()) > 0.7


@pytest.mark.parametrize("rule", [Median(), TrimmedMean(f=2), Krum(f=2)], ids=lambda rule: rule.name)
def test_min_max_costs_robust_rules_more_accuracy_than_noise_of_the_same_norm(rule):
    """Shejwalkar & Houmansadr: the perturbation's direction, not its size, does the damage (two attackers of ten,
    their 20 %)."""
    crafted = _accuracy(4, MinMax(attackers=2), rule)
    control = _accuracy(4, SameNormNoise(attackers=2, of=MinMax(attackers=2)), rule)
    assert crafted < control - 0.005


@pytest.mark.parametrize("rule", [Median(), TrimmedMean(f=3)], ids=lambda rule: rule.name)
def test_alie_costs_the_coordinate_rules_more_than_noise_of_the_same_norm(rule):
    """Baruch et al.: z = 1.5 standard deviations, all attackers the same way (three of ten, their 24 %), over
    eight rounds (the last three averaged): the effect is about a point here, small but one-sided."""
    attack = ALIE(attackers=3)
    crafted = _accuracy(8, attack, rule, last=3)
    control = _accuracy(8, SameNormNoise(attackers=3, of=attack), rule, last=3)
    assert crafted < control - 0.003


def test_krum_picks_the_colluders_copies_and_min_max_s_sized_step_costs_it_far_more_than_alie_s():
    """Identical copies are one another's nearest neighbours, so Krum (f = 3) picks an attacker's row every round
    under ALIE and under Min-Max alike; Min-Max's γ, sized to the honest distances, is what makes the pick
    expensive (Shejwalkar & Houmansadr's point against ALIE's fixed z)."""
    accuracies = {}
    for attack in (ALIE(attackers=3), MinMax(attackers=3)):
        run = run_experiment(preset("smoke", max_rounds=3, attack=attack, aggregator=Krum(f=3)), QUIET)
        assert all(any(agent.selected and agent.is_malicious for agent in r.agents) for r in run.records)
        accuracies[attack.name] = run.records[-1].val_accuracy
    assert accuracies["min_max"] < accuracies["alie"] - 0.1


@pytest.fixture(scope="module")
def boosting():
    """FedAvg against the paper's explicit boosting, and FedAvg's accuracy without an attack."""
    config = preset("smoke", max_rounds=3, attack=ExplicitBoosting())
    return run_experiment(config, QUIET), _accuracy(3)


@pytest.mark.parametrize("rule", [FLTrust(), Flame()], ids=lambda rule: rule.name)
def test_fltrust_and_flame_stop_explicit_boosting_and_keep_accuracy_within_two_points(boosting, rule):
    averaged, clean = boosting
    assert max(r.target_confidence for r in averaged.records) > 0.8
    defended = run_experiment(preset("smoke", max_rounds=3, attack=ExplicitBoosting(), aggregator=rule), QUIET)
    assert max(r.target_confidence for r in defended.records) < 0.3
    assert _accuracy(3, rule=rule) > clean - 0.02


def test_foolsgold_hands_a_single_attacker_the_model_when_the_honest_agents_look_alike():
    """FoolsGold is built against sybils: IID honest agents look alike, so it weighs them down, and a lone
    boosted attacker, unlike anyone, keeps its weight (its successors' criticism)."""
    run = run_experiment(preset("smoke", max_rounds=3, attack=ExplicitBoosting(), aggregator=FoolsGold()), QUIET)
    attacker = run.records[0].agents[-1]
    assert attacker.is_malicious and attacker.weight > 0.5
    assert max(r.target_confidence for r in run.records) > 0.8


def test_centered_clipping_stops_ipm_when_tau_fits_the_updates_not_at_the_reference_tau():
    """Karimireddy et al.'s τ is a scale: here honest updates are about 2.4 long; τ = 2 holds, the reference's
    τ = 100 (set for other models) lets IPM through as the mean would."""
    attack = IPM(attackers=3, epsilon=10.0)
    assert _accuracy(4, attack, CenteredClipping(tau=2.0)) > 0.65
    assert _accuracy(4, attack, CenteredClipping()) < 0.3


def test_bucketing_keeps_the_median_against_ipm_while_the_attackers_taint_a_minority_of_buckets():
    """Karimireddy et al. 2022: buckets of s = 2 let each attacker taint one bucket of five; two attackers leave
    the median's majority honest, three do not."""
    rule = ServerRule(Median(), pre=(Bucketing(bucket_size=2),))
    assert _accuracy(4, IPM(attackers=2, epsilon=10.0), rule) > 0.7
    assert _accuracy(4, IPM(attackers=3, epsilon=10.0), rule) < 0.5


def test_model_replacement_plants_the_trigger_in_one_round_and_norm_clipping_takes_it_away():
    """Bagdasaryan et al.: one boosted round replaces the global model with the backdoored one (here at round 5
    of the smoke run); Sun et al.'s norm clipping at the honest updates' scale (about 2.4) keeps it out."""
    attack = ModelReplacement(active_rounds=(5, 5))
    run = run_experiment(preset("smoke", max_rounds=5, attack=attack), QUIET)
    assert run.records[3].attack_success < 0.2 < 0.8 < run.records[4].attack_success
    clipped = ServerRule(FedAvg(), pre=(NormClip(max_norm=3.0),))
    defended = run_experiment(preset("smoke", max_rounds=5, attack=attack, aggregator=clipped), QUIET)
    assert defended.records[4].attack_success < 0.3
