"""The CPU's stacked path: n copies of a plain network, layer by layer, are the network's own function and gradient.

In float64 the layer-by-layer outputs and gradients equal ``functional_call``'s
per copy to round-off; networks it cannot follow keep the vmap path.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fedutils.dropout import Dropout
from fedutils.models import INPUT_SHAPES, build_model
from fedutils.simulation.batched import StackedNetwork
from fedutils.simulation.layerwise import plan_layers, trace_layers

ROUND_OFF = 1e-10
COPIES = 3
BATCH = 4


class TwoSmallConvolutions(nn.Module):
    """Two convolutions (so the second needs its input's gradient), no-bias layers, stride, padding, dilation."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(2, 3, kernel_size=3, stride=2, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(3, 2, kernel_size=(3, 2), padding=(1, 0), dilation=(1, 2)),
            nn.ReLU(),
            Dropout(0.3),
        )
        self.head = nn.Linear(2 * 6 * 3, 5, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class WithASkip(nn.Module):
    """A residual connection: not a chain of layers, so it cannot be followed layer by layer."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = nn.Linear(6, 6), nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x) + x)


NETWORKS = {
    "fast_cnn": (lambda: build_model("fast_cnn"), INPUT_SHAPES["fast_cnn"]),
    "census_mlp_two_layers": (lambda: build_model("census_mlp_two_layers"), INPUT_SHAPES["census_mlp_two_layers"]),
    "two small convolutions": (TwoSmallConvolutions, (2, 11, 9)),
}


def _plan(model: nn.Module, input_shape: tuple[int, ...]):
    return plan_layers(model, trace_layers(model, input_shape), input_shape)


def _copies(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        name: (0.4 * torch.randn(COPIES, *p.shape, generator=generator)).requires_grad_()
        for name, p in model.named_parameters()
    }


def _masks(model: nn.Module, input_shape: tuple[int, ...], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A random keep/drop mask (scaled) for each dropout layer, per copy and example."""
    masks = {}
    for call in trace_layers(model, input_shape):
        if isinstance(call.module, nn.Dropout):
            keep = torch.rand(COPIES, BATCH, *call.example_shape, generator=generator) > call.module.p
            masks[f"{call.name}.mask"] = keep / (1 - call.module.p)
    return masks


def _one_copy(model: nn.Module, params: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], i: int, x):
    """Copy ``i`` through the network itself, its dropout layers multiplying by the copy's masks."""
    handles = [
        module.register_forward_hook(lambda _m, _in, out, name=name: out * masks[f"{name}.mask"][i])
        for name, module in model.named_modules()
        if isinstance(module, nn.Dropout)
    ]
    model.eval()  # dropout is the hook's multiplication
    try:
        return functional_call(model, {k: v[i] for k, v in params.items()}, (x,))
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("name", list(NETWORKS))
def test_layer_by_layer_is_the_networks_function_and_gradient(float64, name):
    make, input_shape = NETWORKS[name]
    model = make()
    layers = _plan(model, input_shape)
    assert layers is not None
    generator = torch.Generator().manual_seed(7)
    params, masks = _copies(model, generator), _masks(model, input_shape, generator)
    x = torch.rand(COPIES, BATCH, *input_shape, generator=generator)
    labels = torch.randint(2, (COPIES, BATCH), generator=generator)

    outputs = layers.forward(params, x, masks)
    expected = torch.stack([_one_copy(model, params, masks, i, x[i]) for i in range(COPIES)])
    assert (outputs - expected).abs().max() <= ROUND_OFF * expected.abs().max()

    ours = torch.autograd.grad(
        F.cross_entropy(outputs.flatten(0, 1), labels.flatten(), reduction="sum"), list(params.values())
    )
    loss = sum(F.cross_entropy(expected[i], labels[i], reduction="sum") for i in range(COPIES))
    theirs = torch.autograd.grad(loss, list(params.values()))
    for name_, mine, reference in zip(params, ours, theirs, strict=True):
        assert mine.shape == reference.shape, name_
        assert (mine - reference).norm() <= ROUND_OFF * reference.norm(), name_


@pytest.mark.parametrize("name", list(NETWORKS))
def test_shared_inputs_give_each_copys_outputs(float64, name):
    """Evaluation: every copy sees the same inputs, whose patches are shared."""
    make, input_shape = NETWORKS[name]
    model = make()
    layers = _plan(model, input_shape)
    generator = torch.Generator().manual_seed(8)
    params = {k: v.detach() for k, v in _copies(model, generator).items()}
    x = torch.rand(BATCH, *input_shape, generator=generator)
    outputs = layers.forward(params, x, shared=True)
    expected = torch.stack(
        [functional_call(model.eval(), {k: v[i] for k, v in params.items()}, (x,)) for i in range(COPIES)]
    )
    assert (outputs - expected).abs().max() <= ROUND_OFF * expected.abs().max()


def test_networks_it_cannot_follow_keep_the_vmap_path():
    assert _plan(WithASkip(), (6,)) is None  # not a chain: the check on a random input finds the difference
    assert _plan(nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2)), (6,)) is None  # a layer it lacks
    assert _plan(build_model("model_a"), INPUT_SHAPES["model_a"]) is None  # its second convolution's patches
    network = StackedNetwork(build_model("fast_cnn"), INPUT_SHAPES["fast_cnn"])
    assert network.layerwise_on(torch.device("cpu")) is not None
    assert network.layerwise_on(torch.device("meta")) is None  # a GPU's path: vmap
