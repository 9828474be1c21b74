"""The trigger-backdoor attacks (model replacement, Neurotoxin): their constraints as functions, their training
loop, the attack window, and the attack success rate each round records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import QUIET

from fedutils import ExperimentConfig, preset, run_experiment
from fedutils.agents import BenignAgent, LocalTraining
from fedutils.attacks import ExplicitBoosting, ModelReplacement, Neurotoxin, attack_from_dict, neurotoxin_mask
from fedutils.attacks.backdoor import anomaly_distance, project_to_ball, train_backdoor
from fedutils.attacks.neurotoxin import benign_gradient
from fedutils.config import DatasetName
from fedutils.data.dataset import LabelledData
from fedutils.data.trigger import Trigger
from fedutils.errors import ConfigError
from fedutils.models import ModelName, build_model, flatten_parameters
from fedutils.run_options import DataSource
from fedutils.simulation.setup import build_agent, initial_parameters, prepare


def test_the_anomaly_term_has_a_gradient_that_points_from_the_global_model():
    """Constrain-and-scale's ‖X − w_G‖ is differentiable in X (the peer whose term is a constant constrains
    nothing): its gradient is the unit vector (X − w_G)/‖X − w_G‖, so a descent step moves X towards w_G."""
    generator = torch.Generator().manual_seed(0)
    anchor = torch.randn(50, generator=generator, dtype=torch.float64)
    params = (anchor + torch.randn(50, generator=generator, dtype=torch.float64)).requires_grad_()
    anomaly_distance(params, anchor).backward()
    offset = (params - anchor).detach()
    assert torch.allclose(params.grad, offset / offset.norm(), atol=1e-12)
    stepped = params.detach() - 0.1 * params.grad
    assert (stepped - anchor).norm() < offset.norm()


@pytest.mark.parametrize("radius", [0.5, 2.0, 100.0])
def test_projection_into_the_ball_keeps_the_direction_and_leaves_points_inside_alone(radius):
    generator = torch.Generator().manual_seed(1)
    anchor, params = torch.randn(30, generator=generator), torch.randn(30, generator=generator) * 3
    projected = project_to_ball(params, anchor, radius)
    distance = (params - anchor).norm()
    assert (projected - anchor).norm() == pytest.approx(min(radius, float(distance)), rel=1e-5)
    cosine = torch.nn.functional.cosine_similarity(projected - anchor, params - anchor, dim=0)
    assert cosine == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(("d", "ratio", "seed"), [(10, 0.95, 0), (1000, 0.95, 1), (1000, 0.1, 2), (7, 1.0, 3)])
def test_neurotoxin_keeps_the_coordinates_with_the_smallest_absolute_gradient(d, ratio, seed):
    """The reference's ``topk(-|g|, ratio·d)`` — by |g|, not the signed gradient (FLPoison's deviation)."""
    gradient = torch.tensor(np.random.default_rng(seed).normal(size=d))
    mask = neurotoxin_mask(gradient, ratio)
    keep = int(ratio * d)
    assert int(mask.sum()) == keep
    if keep < d:
        assert gradient[mask].abs().max() <= gradient[~mask].abs().min()
    signed = torch.zeros(d, dtype=torch.bool)
    signed[gradient.argsort()[:keep]] = True  # the most negative: not the rule
    assert keep == d or d < 100 or not torch.equal(mask, signed)
    with pytest.raises(ConfigError, match="keep_ratio"):
        neurotoxin_mask(gradient, 0.0)


@pytest.fixture(scope="module")
def shard():
    setup = prepare(preset("smoke"), DataSource(download=False))
    return setup.agent_data(0), initial_parameters(setup.config, setup.dataset.num_classes)


def test_the_masked_training_never_moves_the_masked_coordinates_and_the_bound_holds(shard):
    data, start = shard
    model = build_model(ModelName.FAST_CNN, 10)
    training = LocalTraining(1, 50, 1e-3)
    mask = neurotoxin_mask(benign_gradient(model, start, data), 0.5)
    trained = train_backdoor(
        model, start, data, training, torch.Generator().manual_seed(0), epochs=1, gradient_mask=mask, norm_bound=0.3
    )
    assert torch.equal(trained[~mask], start[~mask])
    assert (trained[mask] != start[mask]).any()
    assert (trained - start).norm() <= 0.3 + 1e-5


def test_the_anomaly_weight_keeps_the_backdoored_model_nearer_the_global_one(shard):
    data, start = shard
    training = LocalTraining(1, 50, 1e-3)
    poisoned = Trigger().poisoned(data, 0.3, torch.Generator().manual_seed(0))
    distances = {}
    for alpha in (1.0, 0.5):
        model = build_model(ModelName.FAST_CNN, 10)
        trained = train_backdoor(model, start, poisoned, training, torch.Generator().manual_seed(0), epochs=2,
                                 class_weight=alpha)  # fmt: skip
        distances[alpha] = float((trained - start).norm())
    assert distances[0.5] < 0.8 * distances[1.0]


def test_outside_its_window_an_attacker_sends_what_an_honest_agent_would():
    config = preset("smoke", attack=ModelReplacement(active_rounds=(3, 4)))
    setup = prepare(config, DataSource(download=False))
    attacker = build_agent(setup, 9, torch.device("cpu"))
    honest = BenignAgent(9, setup.agent_data(9), build_model(config.model, 10), attacker.training, config.seed)
    start = initial_parameters(config, 10)
    assert torch.equal(attacker.compute_update(start, 2), honest.compute_update(start, 2))
    assert not torch.equal(attacker.compute_update(start, 3), honest.compute_update(start, 3))


def test_each_round_records_the_attack_success_rate_and_others_do_not():
    run = run_experiment(preset("smoke", max_rounds=2, attack=Neurotoxin(epochs=1)), QUIET)
    assert all(0 <= record.attack_success <= 1 for record in run.records)
    assert run.records[0].to_dict()["attack_success"] == run.records[0].attack_success
    plain = run_experiment(preset("smoke", max_rounds=1, attack=ExplicitBoosting()), QUIET)
    assert plain.records[0].attack_success is None and "attack_success" not in plain.records[0].to_dict()


def test_the_attack_test_set_holds_the_stamped_images_of_the_other_classes():
    config = preset("smoke", attack=ModelReplacement(trigger=Trigger(target_class=7)))
    setup = prepare(config, DataSource(download=False))
    assert (setup.attack_test.y == 7).all()
    assert len(setup.attack_test) == int((setup.validation.y != 7).sum())


def test_backdoor_options_round_trip_and_bad_ones_are_refused():
    attack = ModelReplacement(alpha=0.7, trigger=Trigger(size=3), active_rounds=(5, 5), norm_bound=2.0)
    assert attack_from_dict(attack.to_dict()) == attack
    config = preset("smoke", attack=attack)
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="images"):
        preset("paper_adult", attack=ModelReplacement())
    with pytest.raises(ConfigError, match="target_class"):
        ExperimentConfig(dataset=DatasetName.FASHION_MNIST, attack=Neurotoxin(trigger=Trigger(target_class=12)))
    for bad, match in [
        (dict(alpha=1.5), "alpha"),
        (dict(poison_fraction=2.0), "poison_fraction"),
        (dict(norm_bound=0.0), "norm_bound"),
        (dict(active_rounds=(4, 2)), "active_rounds"),
    ]:
        with pytest.raises(ConfigError, match=match):
            ModelReplacement(**bad)
    with pytest.raises(ConfigError, match="keep_ratio"):
        Neurotoxin(keep_ratio=0)


def test_a_flat_mask_cut_per_parameter_follows_the_model_s_order():
    model = build_model(ModelName.FAST_CNN, 10)
    flat = flatten_parameters(model)
    data = LabelledData(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[-10:] = True  # the last layer's bias only
    trained = train_backdoor(model, flat, data, LocalTraining(1, 4, 1e-2), torch.Generator(), epochs=3,
                             gradient_mask=mask)  # fmt: skip
    assert torch.equal(trained[:-10], flat[:-10]) and not torch.equal(trained[-10:], flat[-10:])
