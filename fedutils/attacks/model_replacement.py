"""Model replacement, or constrain-and-scale (Bagdasaryan, Veit, Hua, Estrin & Shmatikov, AISTATS 2020).

Near convergence the honest updates nearly cancel, so one attacker can replace the global model with its own
backdoored model X by sending w_G + γ (X − w_G): the server's averaging, Σ α_i δ_i with α = 1/N, brings
γ = N/η (η the server's learning rate, 1 here) back to X − w_G. That scaling is the paper's explicit boosting
(λ = 1/α_m, :class:`~fedutils.attacks.base.BoostedAttack`'s default); what model replacement adds is what it
boosts — X trained on a trigger backdoor mixed into the attacker's clean data — and the *constrain* part, which
keeps X near w_G so that anomaly detectors pass it:

    L = α · L_class + (1 − α) · L_anomaly,    L_anomaly = ‖X − w_G‖₂      (the reference's ``model_dist_norm_var``)

optionally with X projected into an L2 ball of radius S around w_G (``norm_bound``, against a known norm bound).

The reference (``ebagdasa/backdoor_federated_learning``, ``utils/params.yaml``) defaults to α = 1 (no anomaly
term), γ = 100 (its N), 15 poisoned epochs of SGD at 0.05, and attacks once after 10,000 clean rounds. Here the
attacker trains with the federation's Adam for ``epochs`` passes (10), and attacks in the rounds of
``active_rounds`` (every round by default; once, as the reference does, with a window of one round — boosted
every round, the replaced model overshoots back and forth). The anomaly term is a torch
expression of the parameters, so its gradient reaches X — FLPoison computes its version on NumPy copies and adds
a constant, which constrains nothing (tested: :func:`~fedutils.attacks.backdoor.anomaly_distance`'s gradient).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.attacks.backdoor import BackdoorAgent, BackdoorAttack
from fedutils.options import cli_flag, require_fraction


@dataclass(frozen=True)
class ModelReplacement(BackdoorAttack):
    """Options of model replacement (and those of :class:`~fedutils.attacks.backdoor.BackdoorAttack`).

    Attributes:
        alpha: α, the weight of the classification loss; 1 − α weighs the anomaly term ‖X − w_G‖ (1: the
            reference's default, no anomaly term).
    """

    name: ClassVar[str] = "model_replacement"
    summary: ClassVar[str] = (
        "a backdoored model X sent as w_G + γ(X − w_G), γ = 1/α_m, trained to stay near w_G "
        "(constrain-and-scale, Bagdasaryan et al. 2020)"
    )

    alpha: float = field(
        default=1.0,
        metadata=cli_flag("--class-weight", "weight α of the class loss; 1 − α weighs ‖X − w_G‖", metavar="α"),
    )

    def validate(self) -> None:
        super().validate()
        require_fraction(self.alpha, "alpha (α, the class loss's weight)")


class ModelReplacementAgent(BackdoorAgent):
    """The attacker of :class:`ModelReplacement`."""

    params: ModelReplacement

    def craft(self, global_params, estimate, others, generator) -> torch.Tensor:
        return self.backdoored_update(global_params, generator, class_weight=self.params.alpha)


ModelReplacement.agent_class = ModelReplacementAgent
