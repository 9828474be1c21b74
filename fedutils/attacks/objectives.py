"""The pieces of the attackers' objectives (Bhagoji et al. 2019, §3–4).

* the adversarial loss: mean cross-entropy of the model on the target set
  towards the *target* labels, at the attacker's model or at its estimate of
  the next global model;
* the distance term ρ‖δ − δ_cons‖² of the stealthy objectives, written on the
  model's weights w = w_G + δ as ρ‖w − (w_G + δ_cons)‖². It is built from the
  live parameters, so it is differentiable and its gradient
  2ρ(w − w_anchor) pulls the update towards its anchor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedutils.data.targets import TargetSet
from fedutils.options import Choice, cli_flag


class DistanceForm(Choice):
    """ρ‖δ − δ_cons‖² as the talk writes it, or ρ·½‖δ − δ_cons‖² as the authors' code computes it
    (TensorFlow's ``l2_loss``, SPEC §5.3)."""

    SQUARED = "squared"
    HALF_SQUARED = "half_squared"


class Anchor(Choice):
    """δ_cons of the distance term: the others' previous update, or the attacker's own benign update."""

    OTHERS = "others"
    SELF = "self"


def adversarial_loss(model: nn.Module, targets: TargetSet) -> torch.Tensor:
    """Mean cross-entropy of ``model`` on the target inputs towards their target classes."""
    return F.cross_entropy(model(targets.x), targets.target_classes)


class AdversarialModel(Choice):
    """Where the joint objective evaluates its adversarial loss (SPEC §5.2).

    ``attacker``: at the attacker's own model w_G^{t−1} + δ, with λ weighting
    the loss (the talk's formula read literally). ``global_estimate``: at the
    attacker's estimate of the next global model, ŵ_G^t = w_G^{t−1} + α_m δ
    (+ δ̂ with estimation), as the paper defines the adversarial objective
    (§3 of the paper): the update must work after the server's averaging.
    """

    ATTACKER = "attacker"
    GLOBAL_ESTIMATE = "global_estimate"


ADVERSARIAL_MODEL_FLAG = cli_flag(
    "--adversarial-model",
    "where the adversarial loss is evaluated: the attacker's own model w_G + δ, or its estimate of the next "
    "global model w_G + α_m δ (the paper's objective)",
)
"""The command-line flag of the attacks that choose where their adversarial loss is evaluated."""


def adversarial_loss_at_share(model: nn.Module, targets: TargetSet, base: torch.Tensor, share: float) -> torch.Tensor:
    """The adversarial loss of the model base + share·(w − base), w the model's live weights.

    With ``share`` = α_m this is the loss at the estimated global model
    ŵ_G^t, differentiable in w (its gradient is ``share`` times the gradient
    at ŵ_G^t).
    """
    scaled = {}
    offset = 0
    for name, param in model.named_parameters():
        start = base[offset : offset + param.numel()].view_as(param).detach()
        scaled[name] = start + share * (param - start)
        offset += param.numel()
    logits = torch.func.functional_call(model, scaled, (targets.x,))
    return F.cross_entropy(logits, targets.target_classes)


def flat_parameters_with_grad(model: nn.Module) -> torch.Tensor:
    """All parameters as one flat vector that stays connected to the autograd graph."""
    return torch.cat([p.reshape(-1) for p in model.parameters()])


def distance_penalty(
    model: nn.Module,
    anchor: torch.Tensor,
    rho: float,
    form: DistanceForm = DistanceForm.SQUARED,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """ρ‖w − anchor‖² (or ρ·½‖·‖²) over the parameters selected by ``mask`` (all when ``None``).

    Args:
        model: the model whose current weights w are penalised.
        anchor: w_G + δ_cons as a flat vector (no gradient flows into it).
        rho: ρ, the weight of the term.
        form: squared or half-squared norm.
        mask: the parameters to compare, e.g. weights only (SPEC §5.3 ``wt_o``): a boolean mask over the
            flat vector, or the positions it selects (a long tensor, as :func:`fedutils.models.weight_positions`
            gives; in a training loop on a GPU pass positions, since a boolean mask makes the host wait for
            the device at every step). Either selects the same entries in the same order.
    """
    difference = flat_parameters_with_grad(model) - anchor.detach()
    if mask is not None:
        difference = difference[mask] if mask.dtype == torch.bool else difference.index_select(0, mask)
    scale = 0.5 if form is DistanceForm.HALF_SQUARED else 1.0
    return rho * scale * difference.pow(2).sum()
