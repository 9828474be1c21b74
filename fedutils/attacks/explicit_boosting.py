"""Targeted model poisoning with explicit boosting (Bhagoji et al. 2019, §3.1; SPEC §5.1).

From w_G^{t−1}, the attacker minimises the cross-entropy of the model on the
target set towards the target labels — no benign data, no local training —

    δ̃ = argmin_δ CE({x_l, τ_l}; w_G^{t−1} + δ),

then sends δ_m = λ δ̃. With λ = 1/α_m (10 for ten agents with equal shares)
the server's averaging scales the update back to δ̃, as if the attacker alone
had moved the global model, ignoring the other agents' updates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.attacks.base import BoostedAttack, MaliciousAgent
from fedutils.attacks.objectives import adversarial_loss
from fedutils.models import flatten_parameters, load_flat_parameters
from fedutils.options import cli_flag, require_positive, require_positive_int
from fedutils.training import fresh_adam


@dataclass(frozen=True)
class ExplicitBoosting(BoostedAttack):
    """Options of explicit boosting (and ``boost``, λ, of :class:`BoostedAttack`).

    Attributes:
        epochs: Adam steps on the target set (its r examples form one batch, so
            an epoch is one step); the talk's setting is 5.
        stop_loss: the authors' stopping rule when set (e.g. 1e-6): after at
            least ``epochs`` steps, go on until the target loss, checked every
            ``loss_check_every`` steps, is at most this.
        loss_check_every: how often the authors' rule looks at the loss (their code: 100).
        max_steps: a hard cap on the steps under the stopping rule.
    """

    name: ClassVar[str] = "explicit_boosting"
    summary: ClassVar[str] = "the adversarial loss alone from w_G, the update boosted by λ (§3.1)"

    epochs: int = field(default=5, metadata=cli_flag("--mal-epochs", "Adam steps on the targets", metavar="N"))
    stop_loss: float | None = None
    loss_check_every: int = 100
    max_steps: int = 10_000

    def validate(self) -> None:
        super().validate()
        require_positive_int(self.epochs, "epochs (malicious steps)")
        if self.stop_loss is not None:
            require_positive(self.stop_loss, "stop_loss")
        require_positive_int(self.loss_check_every, "loss_check_every")
        require_positive_int(self.max_steps, "max_steps")


class ExplicitBoostingAgent(MaliciousAgent):
    """The attacker of :class:`ExplicitBoosting`."""

    params: ExplicitBoosting

    def craft(self, global_params, estimate, others, generator) -> torch.Tensor:
        start, base = self.start_and_base(global_params, estimate)
        load_flat_parameters(self.model, start)
        self.model.train()
        optimizer = fresh_adam(self.model, self.training.learning_rate)
        checked_loss = float("inf")
        for step in range(1, self.params.max_steps + 1):
            optimizer.zero_grad(set_to_none=True)
            loss = adversarial_loss(self.model, self.targets)
            loss.backward()
            optimizer.step()
            if (step - 1) % self.params.loss_check_every == 0:
                checked_loss = loss.item()
            if step >= self.params.epochs and (self.params.stop_loss is None or checked_loss <= self.params.stop_loss):
                break
        self.model.eval()
        return self.boost_factor(self.params.boost) * (flatten_parameters(self.model) - base)


ExplicitBoosting.agent_class = ExplicitBoostingAgent
