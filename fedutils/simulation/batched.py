"""Many copies of one network, trained or evaluated as one computation (``torch.func``).

In a round, every honest agent starts from the same global model w_G^{t−1}
and runs the same local training (Bhagoji et al. 2019, Eq. 1; SPEC §4), each
on its own shard with its own batch order and dropout. Stacking the k copies'
parameters along a new first dimension and running the forward pass under
``torch.func.vmap`` over ``functional_call`` turns k small models into one
larger computation, which keeps a GPU busy where k separate small ones leave
it waiting on Python. Summing the k mean losses and taking one Adam step over
the stacked tensors is exactly k independent Adams with fresh state: Adam
acts elementwise, and the gradient of the sum with respect to copy i is the
gradient of copy i's own loss.

On a CPU the copies of a plain network (convolutions, dense layers, ReLUs and
dropout in a chain, as every network of :mod:`fedutils.models` but model A
is) run layer by layer as batched matrix products instead
(:mod:`fedutils.simulation.layerwise`): the same function, without vmap's
grouped convolutions, which cost the ``fast`` CNN more than its dense layers.

Each copy draws its batches and its dropout masks from the same seeded
streams, in the same order, with the same function
(:func:`fedutils.dropout.dropout_noise`), as
:class:`~fedutils.agents.BenignAgent` does when it trains alone. So the masks
are the same, number for number, on any device, and the two executions agree
up to the order of floating-point sums.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from fedutils.data.dataset import LabelledData
from fedutils.dropout import device_generator, dropout_noise
from fedutils.progress import progress_bar
from fedutils.simulation.layerwise import LayerCall, LayerwiseNetwork, plan_layers, trace_layers
from fedutils.training import BatchOrder, batch_indices, fresh_adam

STACKED_EVAL_SAMPLES = 2_000
"""Inputs per vmapped evaluation chunk, summed over the stacked models (n models see 2,000 / n inputs each).
Any value gives the same numbers up to float rounding; this bounds the activations held at once."""

BYTES_PER_FLOAT = 4

LAYERWISE_DEVICES = ("cpu",)
"""Device types on which a plain network's copies run layer by layer as batched matrix products
(:mod:`fedutils.simulation.layerwise`) rather than under vmap, which pays on a GPU."""


class _GivenMaskDropout(nn.Module):
    """Dropout whose mask (already scaled by 1 / (1 − p)) arrives as a buffer through ``functional_call``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", torch.empty(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


@dataclass(frozen=True)
class _DropoutLayer:
    """A dropout layer as the stacked forward pass sees it: where its mask goes, its rate, one example's shape."""

    mask_name: str
    p: float
    example_shape: tuple[int, ...]


class StackedNetwork:
    """Train or evaluate n copies of ``model``'s architecture at once, each with its own flat parameter vector.

    Args:
        model: a network of the architecture (its weights are not used or changed).
        input_shape: the shape of one input, e.g. ``(1, 28, 28)``; found by a
            dry run, it tells where each dropout layer sits and its shape.

    The flat vectors are in ``model.parameters()`` order, as made by
    :func:`fedutils.models.flatten_parameters`.

    Attributes:
        activations_per_example: the outputs of all the network's layers for one example, a measure of how
            much a stacked forward pass costs beside the parameters (the parallel executor stacks small networks
            only, :data:`~fedutils.simulation.execution.CPU_STACKING_LIMIT`).
    """

    def __init__(self, model: nn.Module, input_shape: tuple[int, ...]) -> None:
        self.names = [name for name, _ in model.named_parameters()]
        self.shapes = [tuple(p.shape) for p in model.parameters()]
        self.num_parameters = sum(p.numel() for p in model.parameters())
        calls = trace_layers(model, input_shape)
        self.dropout_layers = _dropout_layers(calls)
        self.activations_per_example = sum(_numel(call.example_shape) for call in calls)
        self._evaluating = copy.deepcopy(model).eval().to("meta")
        self._training = copy.deepcopy(model).train().to("meta")
        for layer in self.dropout_layers:
            module_name = layer.mask_name.rpartition(".")[0]
            _replace_module(self._training, module_name, _GivenMaskDropout())
        # functions of the meta-device modules, not bound methods: a bound method would tie the network to
        # itself in a cycle, and its cached shards would stay on the GPU until a cyclic garbage collection
        self._stacked_loss = vmap(functools.partial(_loss, self._training))
        self._stacked_logits = vmap(functools.partial(_logits, self._evaluating), in_dims=(0, None))
        self._layerwise: LayerwiseNetwork | None = plan_layers(model, calls, input_shape)
        self._joined: tuple[list[torch.Tensor], LabelledData] | None = None

    # -- flat vectors <-> stacked parameter dictionaries ------------------------------------------

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of a stack of flat vectors ``(n, P)`` as parameter tensors ``(n, *shape)``, by name."""
        pieces = torch.split(flat, [_numel(s) for s in self.shapes], dim=1)
        return {
            name: piece.view(len(flat), *shape)
            for name, piece, shape in zip(self.names, pieces, self.shapes, strict=True)
        }

    @staticmethod
    def flatten(params: dict[str, torch.Tensor]) -> torch.Tensor:
        """A stack of parameter tensors ``(n, *shape)`` as flat vectors ``(n, P)`` (detached)."""
        return torch.cat([p.detach().flatten(1) for p in params.values()], dim=1)

    # -- evaluation -------------------------------------------------------------------------------

    @torch.inference_mode()
    def logits(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(n, N, classes)`` of the n models ``flat`` ``(n, P)`` on the inputs ``x``, dropout off."""
        params = self.unflatten(flat)
        chunk = max(1, STACKED_EVAL_SAMPLES // len(flat))
        layerwise = self.layerwise_on(flat.device)
        if layerwise is not None:
            pieces = [layerwise.forward(params, x[i : i + chunk], shared=True) for i in range(0, len(x), chunk)]
        else:
            pieces = [self._stacked_logits(params, x[i : i + chunk]) for i in range(0, len(x), chunk)]
        return torch.cat(pieces, dim=1)

    def layerwise_on(self, device: torch.device) -> LayerwiseNetwork | None:
        """The layer-by-layer form, where it exists and pays on ``device`` (:data:`LAYERWISE_DEVICES`)."""
        return self._layerwise if device.type in LAYERWISE_DEVICES else None

    # -- training ---------------------------------------------------------------------------------

    def train(
        self,
        start: torch.Tensor,
        shards: Sequence[LabelledData],
        num_steps: Sequence[int],
        seeds: Sequence[int],
        *,
        batch_size: int,
        learning_rate: float,
        batch_order: BatchOrder,
        progress: bool = False,
        description: str = "local steps",
    ) -> torch.Tensor:
        """Train one copy per shard from the flat parameters ``start``, as benign agents do; the results ``(n, P)``.

        Copy i takes ``num_steps[i]`` Adam steps (fresh Adam, lr ``learning_rate``)
        on mean cross-entropy over batches of ``min(batch_size, n_i)`` rows of
        shard i, in ``batch_order``; its batch order and dropout masks come from
        generators seeded with ``seeds[i]``, exactly as
        :meth:`~fedutils.agents.LocalTraining.train_from` under
        :func:`~fedutils.seeding.torch_seeded` draws them. Copies that need fewer
        steps than others stop, and keep their parameters, when their steps run out.
        """
        count = len(shards)
        if not (len(num_steps) == len(seeds) == count) or count == 0:
            raise ValueError("train needs one number of steps and one seed per shard, and at least one shard")
        device = start.device
        batch = min(batch_size, *(len(shard) for shard in shards))
        if any(min(batch_size, len(shard)) != batch for shard in shards):
            raise ValueError("stacked copies must share their batch size; group shards of the same size")
        plan = self._batch_plan(shards, num_steps, seeds, batch_size, batch_order).to(device)
        joined = self._joined_shards(shards)
        mask_generators = [device_generator(device, seed) for seed in seeds]

        params = {name: p.clone().requires_grad_() for name, p in self.unflatten(start.expand(count, -1)).items()}
        optimizer = fresh_adam(list(params.values()), learning_rate)
        finished = torch.empty(count, self.num_parameters, dtype=start.dtype, device=device)
        layerwise = self.layerwise_on(device)
        steps = progress_bar(range(max(num_steps)), desc=description, unit="step", leave=False, disable=not progress)
        for step in steps:
            rows = plan[step]
            masks = self._draw_masks(mask_generators, batch, start)
            optimizer.zero_grad(set_to_none=True)
            if layerwise is None:
                self._stacked_loss(params, masks, joined.x[rows], joined.y[rows]).sum().backward()
            else:  # the sum of the copies' mean losses, as one sum over every copy's batch
                outputs = layerwise.forward(params, joined.x[rows], masks)
                loss = F.cross_entropy(outputs.flatten(0, 1), joined.y[rows].flatten(), reduction="sum")
                (loss / batch).backward()
            optimizer.step()
            done = [i for i, n in enumerate(num_steps) if n == step + 1]
            if done:
                finished[done] = self.flatten(params)[done]
        return finished

    def _joined_shards(self, shards: Sequence[LabelledData]) -> LabelledData:
        """The shards one after another in one tensor pair, kept while the same shards come back each round
        (the same tensor objects: the cache holds them, so that no other tensor can take their place)."""
        inputs = [shard.x for shard in shards]
        if (
            self._joined is None
            or len(self._joined[0]) != len(inputs)
            or any(kept is not given for kept, given in zip(self._joined[0], inputs, strict=True))
        ):
            self._joined = inputs, LabelledData(torch.cat(inputs), torch.cat([shard.y for shard in shards]))
        return self._joined[1]

    def training_bytes(self, batch_size: int) -> int:
        """A generous estimate of the memory one copy needs while training (parameters, gradients, Adam's
        two moments, the finished copy, and the activations kept for the backward pass)."""
        state = 5 * self.num_parameters
        activations = 3 * batch_size * self.activations_per_example
        return BYTES_PER_FLOAT * (state + activations)

    def _draw_masks(
        self, generators: Sequence[torch.Generator], batch: int, like: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One step's dropout masks, ``(n, batch, *shape)`` per layer, each copy drawing layer by layer as
        ``nn.Dropout`` does: Bernoulli(1 − p) noise, divided by 1 − p."""
        per_copy = [
            [dropout_noise((batch, *layer.example_shape), layer.p, generator, like) for layer in self.dropout_layers]
            for generator in generators
        ]
        layers = self.dropout_layers
        return {layer.mask_name: torch.stack([draws[j] for draws in per_copy]) for j, layer in enumerate(layers)}

    @staticmethod
    def _batch_plan(
        shards: Sequence[LabelledData],
        num_steps: Sequence[int],
        seeds: Sequence[int],
        batch_size: int,
        batch_order: BatchOrder,
    ) -> torch.Tensor:
        """Rows of the concatenated shards for every step and copy, ``(max steps, n, batch)``.

        Each copy's rows are :func:`~fedutils.training.batch_indices` of its own
        shard with its own seeded generator; a copy that has finished repeats
        its last batch (its parameters are no longer read).
        """
        total = max(num_steps)
        offset = 0
        per_copy = []
        for shard, steps, seed in zip(shards, num_steps, seeds, strict=True):
            generator = torch.Generator().manual_seed(seed)
            order = batch_indices(len(shard), batch_size, steps, batch_order, generator)
            rows = torch.stack([_as_index(r) for r in order]) + offset
            per_copy.append(torch.cat([rows, rows[-1:].expand(total - steps, -1)]))
            offset += len(shard)
        return torch.stack(per_copy, dim=1)


def _loss(
    network: nn.Module, params: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], x: torch.Tensor, y
) -> torch.Tensor:
    """One copy's mean cross-entropy: ``network`` (on ``meta``) with the copy's parameters and dropout masks."""
    return F.cross_entropy(functional_call(network, {**params, **masks}, (x,)), y)


def _logits(network: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """One copy's outputs: ``network`` (on ``meta``, dropout off) with the copy's parameters."""
    return functional_call(network, params, (x,))


def _as_index(rows: slice | torch.Tensor) -> torch.Tensor:
    return torch.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _replace_module(root: nn.Module, name: str, replacement: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, replacement)


def _dropout_layers(calls: list[LayerCall]) -> list[_DropoutLayer]:
    """The dropout layers in the order the forward pass calls them, with their output shapes."""
    layers = []
    for call in calls:
        if isinstance(call.module, nn.Dropout):
            layers.append(_DropoutLayer(f"{call.name}.mask", float(call.module.p), call.example_shape))
        elif isinstance(call.module, nn.modules.dropout._DropoutNd):
            raise ValueError(f"{type(call.module).__name__} ({call.name}) cannot be stacked; only nn.Dropout can")
    names = [layer.mask_name for layer in layers]
    if len(set(names)) != len(names):
        raise ValueError("a dropout layer is called twice in one forward pass, so its masks cannot be stacked")
    return layers
