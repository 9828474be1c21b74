"""Neurotoxin (Zhang, Panda, Song, Yang, Mahoney, Mittal, Ramchandran & Gonzalez, ICML 2022): a backdoor that
lasts.

Benign agents keep moving the coordinates their loss cares about, and overwrite a backdoor planted there once
the attacker leaves. Neurotoxin puts the backdoor where they rarely go: before its poisoned training the attacker
estimates the benign direction — the gradient g of the loss of the current global model on its own clean data
(the reference, ``FL_Backdoor_CV/helper.py::grad_mask_cv``; the paper describes the previous global update) —
and trains only the coordinates with the *smallest* ``|g|``, a ``keep_ratio`` share of them over all layers at once
(the reference's ``aggregate_all_layer=1``), projecting into an L2 ball around w_G after every step (its
``s_norm``, the attacker's knowledge of the server's norm bound). FLPoison keeps the most negative *signed*
gradients instead, and only 10 %: not the reference's rule.

Defaults: ``keep_ratio`` 0.95 (the reference's CV commands, ``--gradmask_ratio 0.95``; 1.0 is the baseline
attack without a mask); no boosting (the reference sends w − w_G as it is); ``norm_bound`` off — the
reference's ``s_norm`` 0.2 is a norm of its networks' updates, so set it to the norm bound the server applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from fedutils.attacks.backdoor import BackdoorAgent, BackdoorAttack
from fedutils.attacks.base import BOOST_FLAG
from fedutils.data.dataset import LabelledData
from fedutils.models import load_flat_parameters
from fedutils.options import cli_flag, require_share
from fedutils.training import EVAL_BATCH_SIZE


def neurotoxin_mask(gradient: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """True on the ⌊keep_ratio · d⌋ coordinates with the smallest ``|gradient|`` (all of them for 1.0), as a flat mask.

    Ties at the cut are broken by position (a stable sort), so the mask is the same on every run.
    """
    require_share(keep_ratio, "keep_ratio (the share of coordinates Neurotoxin trains)")
    keep = int(keep_ratio * gradient.numel())
    order = gradient.abs().argsort(stable=True)
    mask = torch.zeros(gradient.numel(), dtype=torch.bool, device=gradient.device)
    mask[order[:keep]] = True
    return mask


def benign_gradient(model: torch.nn.Module, params: torch.Tensor, data: LabelledData) -> torch.Tensor:
    """∇ of the summed cross-entropy of the model ``params`` on ``data`` (the attacker's clean shard), flat: the
    direction the honest agents' training will take the global model (the reference's estimate)."""
    load_flat_parameters(model, params)
    model.eval()
    model.zero_grad(set_to_none=True)
    for start in range(0, len(data), EVAL_BATCH_SIZE):
        rows = slice(start, start + EVAL_BATCH_SIZE)
        F.cross_entropy(model(data.x[rows]), data.y[rows], reduction="sum").backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


@dataclass(frozen=True)
class Neurotoxin(BackdoorAttack):
    """Options of Neurotoxin (and those of :class:`~fedutils.attacks.backdoor.BackdoorAttack`; ``boost`` is 1:
    the reference does not scale its update).

    Attributes:
        keep_ratio: the share of coordinates trained, those with the smallest ``|g|`` (1.0: no mask, the baseline).
    """

    name: ClassVar[str] = "neurotoxin"
    summary: ClassVar[str] = (
        "a backdoor trained only on the coordinates benign training moves least, for durability (Zhang et al. 2022)"
    )

    boost: float | None = field(default=1.0, metadata=BOOST_FLAG)
    keep_ratio: float = field(
        default=0.95, metadata=cli_flag("--keep-ratio", "share of coordinates Neurotoxin trains", metavar="R")
    )

    def validate(self) -> None:
        super().validate()
        require_share(self.keep_ratio, "keep_ratio (the share of coordinates Neurotoxin trains)")


class NeurotoxinAgent(BackdoorAgent):
    """The attacker of :class:`Neurotoxin`."""

    params: Neurotoxin

    def craft(self, global_params, estimate, others, generator) -> torch.Tensor:
        mask = None
        if self.params.keep_ratio < 1.0:
            mask = neurotoxin_mask(benign_gradient(self.model, global_params, self.data), self.params.keep_ratio)
        return self.backdoored_update(global_params, generator, gradient_mask=mask)


Neurotoxin.agent_class = NeurotoxinAgent
