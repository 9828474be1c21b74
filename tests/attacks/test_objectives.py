"""The attackers' loss pieces: the adversarial loss and the differentiable distance term."""

from __future__ import annotations

import pytest
import torch

from fedutils.attacks.objectives import DistanceForm, adversarial_loss, adversarial_loss_at_share, distance_penalty
from fedutils.data.targets import PAPER_TARGET, make_target_set
from fedutils.models import ModelName, build_model, flatten_parameters, load_flat_parameters, weight_mask


@pytest.fixture
def model():
    return build_model(ModelName.FAST_CNN)


def test_distance_term_has_the_gradient_2_rho_w_minus_anchor(model):
    anchor = flatten_parameters(model) + 0.01 * torch.randn(len(flatten_parameters(model)))
    rho = 1e-4
    distance_penalty(model, anchor, rho).backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert gradient.abs().sum() > 0
    assert torch.allclose(gradient, 2 * rho * (flatten_parameters(model) - anchor), atol=1e-10)


def test_adding_the_distance_term_moves_the_update_towards_its_anchor(model, fmnist):
    """One gradient step on CE + ρ‖δ − δ_cons‖² ends closer to w_G + δ_cons than a step on CE alone."""
    data = fmnist.train.subset(slice(0, 64))
    start = flatten_parameters(model)
    anchor = start + 0.05 * torch.randn(len(start), generator=torch.Generator().manual_seed(0))

    def step(rho: float) -> torch.Tensor:
        load_flat_parameters(model, start)
        model.eval()
        loss = torch.nn.functional.cross_entropy(model(data.x), data.y)
        if rho:
            loss = loss + distance_penalty(model, anchor, rho)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
                p.grad = None
        return flatten_parameters(model)

    assert (step(1.0) - anchor).norm() < (step(0.0) - anchor).norm()


def test_half_squared_form_and_weight_mask(model):
    anchor = flatten_parameters(model) + 1.0
    full = distance_penalty(model, anchor, 1.0).item()
    assert distance_penalty(model, anchor, 1.0, DistanceForm.HALF_SQUARED).item() == pytest.approx(full / 2)
    mask = weight_mask(model)
    assert distance_penalty(model, anchor, 1.0, mask=mask).item() == pytest.approx(float(mask.sum()), rel=1e-6)


def test_adversarial_loss_uses_the_target_labels(model, fmnist):
    targets = make_target_set(fmnist.test, [PAPER_TARGET], fmnist.class_names)
    model.eval()
    logits = model(targets.x)
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([7]))
    assert adversarial_loss(model, targets).item() == pytest.approx(expected.item())


def test_the_loss_at_the_global_estimate_is_the_loss_of_the_scaled_model_with_a_scaled_gradient(model, fmnist):
    """adversarial_loss_at_share(w) = CE at base + α(w − base), and its gradient is α × the gradient there."""
    targets = make_target_set(fmnist.test, [PAPER_TARGET], fmnist.class_names)
    model.eval()
    base = flatten_parameters(model)
    moved = base + 0.05 * torch.randn(len(base), generator=torch.Generator().manual_seed(1))
    share = 0.1
    load_flat_parameters(model, moved)
    loss = adversarial_loss_at_share(model, targets, base, share)
    loss.backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in model.parameters()])

    scaled = build_model(ModelName.FAST_CNN).eval()
    load_flat_parameters(scaled, base + share * (moved - base))
    reference = adversarial_loss(scaled, targets)
    reference.backward()
    reference_gradient = torch.cat([p.grad.reshape(-1) for p in scaled.parameters()])
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    assert torch.allclose(gradient, share * reference_gradient, atol=1e-7)
