"""Alternating minimisation (Bhagoji et al. 2019, §4; the talk; SPEC §5.3).

The attacker alternates two kinds of Adam step on one set of weights:

* a **malicious step** on the adversarial loss CE({x_l, τ_l}; w), whose weight
  change is boosted by λ: δ'_mal → λ δ'_mal;
* ``stealth_steps`` **stealth steps** on its own data plus the distance term,
  CE(D_m; w_G + λδ'_mal + δ) + ρ‖δ − δ_cons‖², which restore the accuracy
  on benign data and keep the update close to an anchor.

The talk: "for every step w.r.t. the malicious loss, take 10 steps for the
benign loss", malicious step first. The authors' code runs the stealth steps
first, boosts (and constrains) weights only, and uses a half-squared norm;
each is an option here. The budget is ``epochs`` passes over the attacker's
data in stealth steps (10 epochs: 1,200 stealth and 120 malicious steps for
6,000 examples with B = 50).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from fedutils.attacks.base import ConstrainedAttack, MaliciousAgent
from fedutils.attacks.objectives import ADVERSARIAL_MODEL_FLAG, AdversarialModel, Anchor, distance_penalty
from fedutils.models import flatten_parameters, load_flat_parameters, weight_mask, weight_positions
from fedutils.options import Choice, cli_flag, require_positive_int
from fedutils.training import batch_indices, fresh_adam


class StepOrder(Choice):
    """Which kind of step opens each block: the malicious one (the talk) or the stealth ones (the code)."""

    MALICIOUS_FIRST = "malicious_first"
    STEALTH_FIRST = "stealth_first"


@dataclass(frozen=True)
class AlternatingMinimisation(ConstrainedAttack):
    """Options of alternating minimisation (and those of :class:`ConstrainedAttack`).

    ``boost`` (λ) applies to each malicious step; ``epochs`` is the budget in
    passes over the attacker's data by stealth steps (the code: 10); the
    anchor defaults to the attacker's own benign update, as in the authors'
    command (``dist_self``).

    Attributes:
        stealth_steps: stealth steps per malicious step (the talk: 10).
        order: which kind of step opens each block.
        weights_only: boost and constrain weights only, not biases (the code's ``wt_o``).
        adversarial_model: take the malicious step's gradient at the attacker's
            own model (default) or at its estimate of the next global model,
            where its update is scaled by α_m (see :class:`AdversarialModel`);
            the step is boosted by λ either way.
    """

    name: ClassVar[str] = "alternating"
    summary: ClassVar[str] = "boosted malicious steps alternating with stealth steps on benign loss and distance (§4)"

    anchor: Anchor = Anchor.SELF
    stealth_steps: int = field(
        default=10, metadata=cli_flag("--stealth-steps", "stealth steps per malicious step", metavar="N")
    )
    order: StepOrder = StepOrder.MALICIOUS_FIRST
    weights_only: bool = False
    adversarial_model: AdversarialModel = field(default=AdversarialModel.ATTACKER, metadata=ADVERSARIAL_MODEL_FLAG)

    def validate(self) -> None:
        super().validate()
        require_positive_int(self.stealth_steps, "stealth_steps")


class AlternatingMinimisationAgent(MaliciousAgent):
    """The attacker of :class:`AlternatingMinimisation`."""

    params: AlternatingMinimisation

    def craft(self, global_params, estimate, others, generator) -> torch.Tensor:
        p = self.params
        anchor = self.distance_anchor(p.anchor, p.epochs, global_params, others, generator)
        mask = weight_mask(self.model).to(global_params.device) if p.weights_only else None
        positions = weight_positions(self.model).to(global_params.device) if p.weights_only else None
        start, base = self.start_and_base(global_params, estimate)
        load_flat_parameters(self.model, start)
        self.model.train()
        stealth_optimizer = fresh_adam(self.model, self.training.learning_rate)
        malicious_optimizer = fresh_adam(self.model, self.training.learning_rate)
        batch = self.training.batch_size
        blocks = max(1, self.training.steps_for(len(self.data), p.epochs) // p.stealth_steps)
        steps = blocks * p.stealth_steps
        batches = batch_indices(len(self.data), batch, steps, self.training.batch_order, generator, self.data.x.device)
        for _ in range(blocks):
            if p.order is StepOrder.MALICIOUS_FIRST:
                self._malicious_step(malicious_optimizer, mask, base)
            for _ in range(p.stealth_steps):
                self._stealth_step(stealth_optimizer, next(batches), anchor, positions)
            if p.order is StepOrder.STEALTH_FIRST:
                self._malicious_step(malicious_optimizer, mask, base)
        self.model.eval()
        return flatten_parameters(self.model) - base

    def _malicious_step(self, optimizer: torch.optim.Optimizer, mask: torch.Tensor | None, base: torch.Tensor) -> None:
        """One Adam step on the adversarial loss, its weight change then boosted by λ."""
        before = flatten_parameters(self.model)
        optimizer.zero_grad(set_to_none=True)
        self.adversarial_loss_at(self.params.adversarial_model, base).backward()
        optimizer.step()
        change = flatten_parameters(self.model) - before
        boost = self.boost_factor(self.params.boost)
        boosted = change * boost if mask is None else torch.where(mask, change * boost, change)
        load_flat_parameters(self.model, before + boosted)

    def _stealth_step(self, optimizer, rows, anchor: torch.Tensor | None, positions: torch.Tensor | None) -> None:
        """One Adam step on the attacker's own data plus the distance term."""
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(self.data.x[rows]), self.data.y[rows])
        if anchor is not None:
            loss = loss + distance_penalty(self.model, anchor, self.params.rho, self.params.distance, positions)
        loss.backward()
        optimizer.step()


AlternatingMinimisation.agent_class = AlternatingMinimisationAgent
