"""What the backdoor attacks after the paper share: a trigger, poisoned training from w_G, and its constraints.

Model replacement (Bagdasaryan et al. 2020) and Neurotoxin (Zhang et al. 2022) plant a *trigger backdoor*
(:class:`~fedutils.data.trigger.Trigger`): the attacker trains from w_G^{t−1} on its own shard with a fraction
of its images stamped with the trigger and relabelled as the target class, so that the global model learns to
send any stamped image there while its accuracy on clean images stays. Its success is the attack success rate
(ASR): the global model's accuracy on the stamped test images of the other classes, which the server's
evaluator records every round. The two attacks differ in how they constrain that training
(:func:`train_backdoor`): an anomaly term that keeps the model near w_G (model replacement's
constrain-and-scale), or a mask that keeps it off the coordinates benign training moves (Neurotoxin), each
optionally projected into an L2 ball around w_G (the attacker's guess of the server's norm bound).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from fedutils.agents import LocalTraining
from fedutils.attacks.base import BoostedAttack, MaliciousAgent
from fedutils.data.dataset import LabelledData
from fedutils.data.trigger import Trigger
from fedutils.models import flatten_parameters, load_flat_parameters
from fedutils.options import cli_flag, require_fraction, require_positive
from fedutils.training import batch_indices, fresh_adam


@dataclass(frozen=True)
class BackdoorAttack(BoostedAttack):
    """Options every trigger-backdoor attack has (and ``boost``, λ, of :class:`BoostedAttack`).

    Attributes:
        trigger: the pixel pattern and the target class (:class:`~fedutils.data.trigger.Trigger`).
        poison_fraction: the share of the attacker's images stamped and relabelled each round (BackFed's
            ``poison_rate`` 0.3125, the DBA reference's 20 of 64 per batch).
        epochs: passes over the attacker's (poisoned) shard (10: model replacement's reference trains 15 epochs of
            SGD; on the ``fast`` CNN 10 of Adam plant the trigger in one round, 2 do not — measured).
        norm_bound: project ‖w − w_G‖ ≤ S after every step (the attacker's guess of the server's norm bound);
            ``None``: no projection.
    """

    trigger: Trigger = field(default_factory=Trigger)
    poison_fraction: float = field(
        default=0.3125,
        metadata=cli_flag("--poison-fraction", "the share of the attacker's images given the trigger", metavar="P"),
    )
    epochs: float = field(
        default=10.0, metadata=cli_flag("--mal-epochs", "passes over the attacker's poisoned shard", metavar="N")
    )
    norm_bound: float | None = field(
        default=None,
        metadata=cli_flag("--norm-bound", "project the attacker's model into this L2 ball around w_G", metavar="S"),
    )

    def __post_init__(self) -> None:
        if isinstance(self.trigger, Mapping):  # its plain form, from a stored configuration
            object.__setattr__(self, "trigger", Trigger.from_dict(self.trigger))
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        require_fraction(self.poison_fraction, "poison_fraction")
        require_positive(self.epochs, "epochs (passes over the poisoned shard)")
        if self.norm_bound is not None:
            require_positive(self.norm_bound, "norm_bound (S)")


def anomaly_distance(params: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
    """‖θ − w_G‖₂, differentiable in θ: constrain-and-scale's anomaly term (the reference's
    ``model_dist_norm_var``), the one a detector that measures distances would see."""
    return (params - anchor).norm()


def project_to_ball(params: torch.Tensor, anchor: torch.Tensor, radius: float) -> torch.Tensor:
    """θ moved into the L2 ball of ``radius`` around ``anchor`` (unchanged if already inside): PGD's projection."""
    offset = params - anchor
    return anchor + offset * (radius / offset.norm().clamp_min(torch.finfo(offset.dtype).tiny)).clamp(max=1.0)


def train_backdoor(
    model: nn.Module,
    start: torch.Tensor,
    data: LabelledData,
    training: LocalTraining,
    generator: torch.Generator,
    *,
    epochs: float,
    class_weight: float = 1.0,
    gradient_mask: torch.Tensor | None = None,
    norm_bound: float | None = None,
) -> torch.Tensor:
    """Train ``model`` from the flat parameters ``start`` on the poisoned ``data``; the result, flat.

    Each step minimises α·CE + (1 − α)·‖θ − start‖ (α = ``class_weight``; α = 1, the reference's default,
    is plain training), multiplies the gradient by ``gradient_mask`` (Neurotoxin: 0 on the coordinates it
    leaves alone; a fresh Adam then never moves them) and, with a ``norm_bound``, projects θ back into the ball
    of that radius around ``start``. Batches as the federation's local training draws them (B, order).
    """
    load_flat_parameters(model, start)
    parameters = list(model.parameters())
    masks = None if gradient_mask is None else _per_parameter(gradient_mask, parameters)
    optimizer = fresh_adam(parameters, training.learning_rate)
    num_steps = training.steps_for(len(data), epochs)
    model.train()
    for rows in batch_indices(len(data), training.batch_size, num_steps, training.batch_order, generator, start.device):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(data.x[rows]), data.y[rows])
        if class_weight < 1.0:
            flat = torch.cat([p.reshape(-1) for p in parameters])
            loss = class_weight * loss + (1.0 - class_weight) * anomaly_distance(flat, start)
        loss.backward()
        if masks is not None:
            for parameter, mask in zip(parameters, masks, strict=True):
                parameter.grad.mul_(mask)
        optimizer.step()
        if norm_bound is not None:
            with torch.no_grad():
                load_flat_parameters(model, project_to_ball(flatten_parameters(model), start, norm_bound))
    model.eval()
    return flatten_parameters(model)


def _per_parameter(flat: torch.Tensor, parameters: list[torch.Tensor]) -> list[torch.Tensor]:
    """A flat vector cut into views shaped like ``parameters``, in their order."""
    sizes = [p.numel() for p in parameters]
    return [piece.view_as(p).to(p.dtype) for piece, p in zip(flat.split(sizes), parameters, strict=True)]


class BackdoorAgent(MaliciousAgent):
    """Base of the trigger-backdoor attackers: this round's poisoned shard (:meth:`poisoned_shard`)."""

    params: BackdoorAttack

    def poisoned_shard(self, generator: torch.Generator) -> LabelledData:
        """The attacker's shard with ``poison_fraction`` of it stamped and relabelled, drawn from the round's
        stream."""
        return self.params.trigger.poisoned(self.data, self.params.poison_fraction, generator)

    def backdoored_update(
        self,
        global_params: torch.Tensor,
        generator: torch.Generator,
        *,
        class_weight: float = 1.0,
        gradient_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """λ (X − w_G) for X trained from w_G on this round's poisoned shard (:func:`train_backdoor`, with the
        attack's epochs and norm bound)."""
        backdoored = train_backdoor(
            self.model,
            global_params,
            self.poisoned_shard(generator),
            self.training,
            generator,
            epochs=self.params.epochs,
            class_weight=class_weight,
            gradient_mask=gradient_mask,
            norm_bound=self.params.norm_bound,
        )
        return self.boost_factor(self.params.boost) * (backdoored - global_params)
