"""Stealthy model poisoning: the joint objective (Bhagoji et al. 2019, §4; the talk's settings).

The attacker minimises, with Adam over its own data for a few epochs,

    L(D_m; w_G + δ) + λ·L({x_l, τ_l}; w_G + δ) + ρ‖δ − δ_cons‖²,

so its update also fits its own data (to pass the server's accuracy check),
boosts only the adversarial term, and stays close to an anchor δ_cons (to
pass the weight-update statistics). The anchor is the other agents'
previous cumulative update (the talk's choice), or the attacker's own
benign update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from fedutils.attacks.base import ConstrainedAttack, MaliciousAgent
from fedutils.attacks.objectives import ADVERSARIAL_MODEL_FLAG, AdversarialModel, distance_penalty
from fedutils.models import flatten_parameters, load_flat_parameters
from fedutils.training import batch_indices, fresh_adam


@dataclass(frozen=True)
class StealthyPoisoning(ConstrainedAttack):
    """Options of the joint (stealthy) objective: λ weighs the adversarial loss (the talk: 10 = 1/α_m),
    ρ = 1e-4, 10 epochs, anchored to the others' previous update (see :class:`ConstrainedAttack`).

    Attributes:
        adversarial_model: evaluate the adversarial loss at the attacker's own
            model (default) or at its estimate of the next global model, where
            its update is scaled by α_m (see :class:`AdversarialModel`).
    """

    name: ClassVar[str] = "stealthy"
    summary: ClassVar[str] = "one joint objective: boosted adversarial loss, benign loss and a distance term (§3.3)"

    adversarial_model: AdversarialModel = field(default=AdversarialModel.ATTACKER, metadata=ADVERSARIAL_MODEL_FLAG)


class StealthyPoisoningAgent(MaliciousAgent):
    """The attacker of :class:`StealthyPoisoning`."""

    params: StealthyPoisoning

    def craft(self, global_params, estimate, others, generator) -> torch.Tensor:
        p = self.params
        anchor = self.distance_anchor(p.anchor, p.epochs, global_params, others, generator)
        start, base = self.start_and_base(global_params, estimate)
        load_flat_parameters(self.model, start)
        self.model.train()
        optimizer = fresh_adam(self.model, self.training.learning_rate)
        boost = self.boost_factor(p.boost)
        batch = self.training.batch_size
        steps = self.training.steps_for(len(self.data), p.epochs)
        order = self.training.batch_order
        for rows in batch_indices(len(self.data), batch, steps, order, generator, self.data.x.device):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(self.data.x[rows]), self.data.y[rows])
            loss = loss + boost * self.adversarial_loss_at(p.adversarial_model, base)
            if anchor is not None:
                loss = loss + distance_penalty(self.model, anchor, p.rho, p.distance)
            loss.backward()
            optimizer.step()
        self.model.eval()
        return flatten_parameters(self.model) - base


StealthyPoisoning.agent_class = StealthyPoisoningAgent
