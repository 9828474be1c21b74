"""n copies of a plain feed-forward network run layer by layer as batched matrix products (the CPU's stacked path).

:class:`~fedutils.simulation.batched.StackedNetwork` runs n copies of a network
under ``torch.func.vmap``. On a GPU that is what pays; on a CPU, vmap turns each
copy's convolution into one grouped convolution over all copies (with the
inputs moved copy-major first), which for the ``fast`` CNN cost more than its
dense layers, whose arithmetic is 90 % of the network's. Here each layer of a
plain network — convolutions, dense layers, ReLUs and dropout, called in order
with a flatten between the convolutional and the dense blocks, as every network
of :mod:`fedutils.models` is built — is one batched operation over the copies:

* a dense layer is one ``baddbmm``: ``(n, B, in) @ (n, in, out) + bias``;
* a convolution is ``unfold`` (im2col) of the inputs, then one batched matrix
  product per copy and example, ``(n, B, O, C·k·k) @ (n, B, C·k·k, L)``, whose
  output is already in the order a flatten expects (channels, then positions);
  when all copies see the same inputs (evaluation), the patches are shared and
  the product is one matrix product;
* dropout multiplies by the copy's mask, drawn as before.

It is the same function of the same parameters, computed in another order of
floating-point sums; :func:`plan_layers` checks that on a random input before it
is used, and returns ``None`` (the vmap path is kept) for any network it cannot
follow.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

AGREEMENT = 1e-4
"""The largest relative difference between the layer-by-layer outputs and the network's own that the check accepts
(float32 on a random input; the two differ only in the order of their sums)."""

CHECK_EXAMPLES = 3
"""Random examples the check runs through both forms."""

PATCH_LIMIT = 20_000
"""The most numbers one example's im2col patches may hold, for any convolution of a network followed layer by
layer: the ``fast`` CNN's convolution has 4,900 (25 taps at 196 positions); model A's second has 640,000 (1,600
taps at 400 positions), whose patches for a batch of 50 would be 128 MB per copy, and it keeps the vmap path."""


@dataclass(frozen=True)
class _Dense:
    weight: str
    bias: str | None


@dataclass(frozen=True)
class _Conv:
    weight: str
    bias: str | None
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    output_size: tuple[int, int]


@dataclass(frozen=True)
class _ReLU:
    pass


@dataclass(frozen=True)
class _Mask:
    name: str


_Layer = _Dense | _Conv | _ReLU | _Mask


class LayerwiseNetwork:
    """The layer-by-layer form of a network (see the module docstring); made by :func:`plan_layers`."""

    def __init__(self, layers: list[_Layer]) -> None:
        self.layers = layers

    def forward(
        self,
        params: dict[str, torch.Tensor],
        x: torch.Tensor,
        masks: dict[str, torch.Tensor] | None = None,
        *,
        shared: bool = False,
    ) -> torch.Tensor:
        """Outputs ``(n, B, classes)`` of the n copies ``params`` (tensors ``(n, *shape)``, by name).

        Args:
            x: each copy's own inputs ``(n, B, *input)``, or with ``shared`` the inputs ``(B, *input)`` every
                copy sees (evaluation).
            masks: each dropout layer's mask ``(n, B, *shape)`` by name, already scaled; ``None`` turns dropout
                off (evaluation).
        """
        count = len(next(iter(params.values())))
        h = x
        for layer in self.layers:
            if isinstance(layer, _Conv):
                h = _conv(h, params[layer.weight], _optional(params, layer.bias), layer, shared)
                shared = False
            elif isinstance(layer, _Dense):
                h = _dense(h, params[layer.weight], _optional(params, layer.bias), shared, count)
                shared = False
            elif isinstance(layer, _ReLU):
                h = torch.relu(h)
            elif masks is not None:
                h = h * masks[layer.name]
        return h


def _optional(params: dict[str, torch.Tensor], name: str | None) -> torch.Tensor | None:
    return None if name is None else params[name]


def _dense(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, shared: bool, count: int) -> torch.Tensor:
    """A dense layer of each copy: ``h`` ``(n, B, …)`` (or ``(B, …)`` shared), flattened per example."""
    if shared:
        h = h.flatten(1).unsqueeze(0).expand(count, -1, -1)
    else:
        h = h.flatten(2)
    return _StackedDense.apply(h, weight, bias)


class _StackedDense(torch.autograd.Function):
    """``h @ Wᵀ + b`` per copy, whose backward computes the weights' gradient in their own layout
    (``gradᵀ @ h``, ``(n, out, in)``): autograd's would compute ``hᵀ @ grad`` and copy its transpose."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(h, weight)
        ctx.has_bias = bias is not None
        if bias is None:
            return torch.bmm(h, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        h, weight = ctx.saved_tensors
        grad_h = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_weight = torch.bmm(grad.transpose(1, 2), h) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(1) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_h, grad_weight, grad_bias


def _patches(x: torch.Tensor, conv: _Conv) -> torch.Tensor:
    """im2col of every copy's inputs ``x`` ``(n, B, C, H, W)`` in one strided copy: ``(n, C·kh·kw, B·H'·W')``."""
    count, batch, channels = x.shape[:3]
    (ph, pw), (sh, sw), (dh, dw), (kh, kw) = conv.padding, conv.stride, conv.dilation, conv.kernel_size
    out_h, out_w = conv.output_size
    padded = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
    s = padded.stride()
    windows = padded.as_strided(
        (count, channels, kh, kw, batch, out_h, out_w), (s[0], s[2], dh * s[3], dw * s[4], s[1], sh * s[3], sw * s[4])
    )
    return windows.reshape(count, channels * kh * kw, batch * out_h * out_w)


class _StackedConv(torch.autograd.Function):
    """A 2-D convolution of each copy on its own inputs, as im2col and one matrix product per copy:
    ``(n, O, C·k·k) @ (n, C·k·k, B·L)``; the output is ``(n, B, O, H', W')``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: _Conv) -> torch.Tensor:
        count, batch = x.shape[:2]
        out_channels = weight.shape[1]
        patches = _patches(x, conv)
        kernels = weight.reshape(count, out_channels, -1)
        if bias is None:
            out = torch.bmm(kernels, patches)
        else:
            out = torch.baddbmm(bias.unsqueeze(2), kernels, patches)
        ctx.save_for_backward(patches, weight)
        ctx.conv, ctx.input_shape, ctx.has_bias = conv, x.shape, bias is not None
        positions = out.shape[2] // batch
        return (
            out.view(count, out_channels, batch, positions)
            .transpose(1, 2)
            .reshape(count, batch, out_channels, *conv.output_size)
        )

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        patches, weight = ctx.saved_tensors
        conv: _Conv = ctx.conv
        count, batch, out_channels = grad.shape[:3]
        columns = grad.reshape(count, batch, out_channels, -1).transpose(1, 2).reshape(count, out_channels, -1)
        grad_weight = torch.bmm(columns, patches.transpose(1, 2)).view_as(weight) if ctx.needs_input_grad[1] else None
        grad_bias = columns.sum(2) if ctx.has_bias and ctx.needs_input_grad[2] else None
        grad_x = None
        if ctx.needs_input_grad[0]:  # col2im of the patches' gradient (not needed for a first layer)
            kernels = weight.reshape(count, out_channels, -1)
            grad_patches = torch.bmm(kernels.transpose(1, 2), columns)  # (n, C·k·k, B·L)
            width = grad_patches.shape[1]
            per_example = grad_patches.view(count, width, batch, -1).transpose(1, 2).reshape(count * batch, width, -1)
            height, breadth = ctx.input_shape[-2:]
            folded = F.fold(per_example, (height, breadth), conv.kernel_size, conv.dilation, conv.padding, conv.stride)
            grad_x = folded.view(ctx.input_shape)
        return grad_x, grad_weight, grad_bias, None


def _conv(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: _Conv, shared: bool) -> torch.Tensor:
    """A 2-D convolution of each copy; ``(n, B, O, H', W')``. Shared inputs share their patches: one matrix
    product for every copy's kernels."""
    if not shared:
        return _StackedConv.apply(h, weight, bias, conv)
    count, out_channels = weight.shape[:2]
    patches = _patches(h.unsqueeze(0), conv)[0]  # (C·k·k, B·L)
    batch = h.shape[0]
    out = weight.reshape(count * out_channels, -1) @ patches
    if bias is not None:
        out = out + bias.reshape(-1, 1)
    out = out.view(count, out_channels, batch, -1).transpose(1, 2)
    return out.reshape(count, batch, out_channels, *conv.output_size)


@dataclass(frozen=True)
class LayerCall:
    """One leaf module of a network as its forward pass calls it: its name, itself, one example's output shape."""

    name: str
    module: nn.Module
    example_shape: tuple[int, ...]


def trace_layers(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerCall]:
    """Run one example through a copy of ``model``; every leaf module's output, in call order.

    In eval mode, so that dropout draws nothing from torch's global generator (another thread may be
    using it); the shapes are those of training mode. On the ``meta`` device: only shapes are needed, so
    nothing is computed and nothing is copied from the model's device."""
    probe = copy.deepcopy(model).to("meta").eval()
    calls: list[LayerCall] = []
    handles = [
        module.register_forward_hook(
            lambda m, _inputs, output, name=name: calls.append(LayerCall(name, m, tuple(output.shape[1:])))
        )
        for name, module in probe.named_modules()
        if not list(module.children())
    ]
    with torch.no_grad():
        probe(torch.zeros(1, *input_shape, device="meta"))
    for handle in handles:
        handle.remove()
    return calls


def plan_layers(model: nn.Module, calls: Sequence[LayerCall], input_shape: tuple[int, ...]) -> LayerwiseNetwork | None:
    """The layer-by-layer form of ``model``, or ``None`` where it cannot be followed, where a convolution's
    patches would be too large (:data:`PATCH_LIMIT`), or where it does not agree with the network's own outputs.

    ``calls``: the leaf modules in the order the forward pass calls them (:func:`trace_layers`).
    """
    layers: list[_Layer] = []
    for call in calls:
        name, module, shape = call.name, call.module, call.example_shape
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Linear):
            layers.append(_Dense(prefix + "weight", prefix + "bias" if module.bias is not None else None))
        elif isinstance(module, nn.Conv2d) and module.groups == 1 and module.padding_mode == "zeros":
            taps = module.in_channels * _pair(module.kernel_size)[0] * _pair(module.kernel_size)[1]
            if isinstance(module.padding, str) or taps * shape[1] * shape[2] > PATCH_LIMIT:
                return None
            layers.append(
                _Conv(
                    prefix + "weight",
                    prefix + "bias" if module.bias is not None else None,
                    _pair(module.kernel_size),
                    _pair(module.stride),
                    _pair(module.padding),
                    _pair(module.dilation),
                    (shape[1], shape[2]),
                )
            )
        elif isinstance(module, nn.ReLU):
            layers.append(_ReLU())
        elif isinstance(module, nn.Dropout):  # fedutils.dropout.Dropout too
            layers.append(_Mask(prefix + "mask"))
        else:
            return None
    network = LayerwiseNetwork(layers)
    return network if _agrees(network, model, input_shape) else None


def _agrees(network: LayerwiseNetwork, model: nn.Module, input_shape: tuple[int, ...]) -> bool:
    """Whether the layer-by-layer form gives the network's own outputs on a random input (a copy on the CPU,
    in float32, eval mode, random weights from a private generator)."""
    probe = copy.deepcopy(model).to_empty(device="cpu").to(torch.float32).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in probe.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float32) * 0.3)
        x = torch.rand(CHECK_EXAMPLES, *input_shape, generator=generator, dtype=torch.float32)
        try:
            expected = probe(x)
            params = {name: p.unsqueeze(0) for name, p in probe.named_parameters()}
            got = network.forward(params, x.unsqueeze(0))[0]
            got_shared = network.forward(params, x, shared=True)[0]
        except (RuntimeError, KeyError, IndexError):
            return False
    if got.shape != expected.shape or got_shared.shape != expected.shape:
        return False
    scale = expected.abs().max().clamp_min(1e-12)
    return all(bool((form - expected).abs().max() / scale <= AGREEMENT) for form in (got, got_shared))


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
