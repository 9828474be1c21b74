"""The networks and the model <-> flat-vector helpers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fedutils.models import (
    INPUT_SHAPES,
    FastCNN,
    ModelA,
    ModelName,
    build_model,
    count_parameters,
    flatten_parameters,
    load_flat_parameters,
    weight_mask,
)


def test_model_a_has_the_papers_parameter_count():
    model = build_model(ModelName.MODEL_A)
    assert isinstance(model, ModelA)
    assert count_parameters(model) == 3_382_346  # SPEC §3.1
    mask = weight_mask(model)
    assert int(mask.sum()) == 3_382_080 and int((~mask).sum()) == 266


@pytest.mark.parametrize("name", list(ModelName))
def test_keras_style_initialisation(name):
    model = build_model(name)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            assert torch.count_nonzero(module.bias) == 0
            fan_in = module.weight[0].numel()
            fan_out = module.weight.shape[0] * module.weight[0, 0].numel()
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert module.weight.abs().max() <= bound
            assert module.weight.abs().max() > 0.9 * bound  # uniform over the whole Glorot range


@pytest.mark.parametrize("name", list(ModelName))
def test_models_are_lrp_ready_and_stateless(name):
    """One ReLU module per activation (Captum's LRP needs them), no buffers, logits of the dataset's classes."""
    model = build_model(name)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == len({id(m) for m in relus}) >= 1
    assert not list(model.buffers())
    classes = 2 if name in (ModelName.CENSUS_MLP, ModelName.CENSUS_MLP_TWO_LAYERS) else 10
    assert model(torch.rand(4, *INPUT_SHAPES[name])).shape == (4, classes)


def test_fast_cnn_is_much_cheaper_than_model_a():
    assert count_parameters(FastCNN()) == 203_634
    assert count_parameters(FastCNN()) * 10 < count_parameters(ModelA())


def test_flat_round_trip_copies_instead_of_aliasing():
    flat = flatten_parameters(build_model(ModelName.FAST_CNN))
    original = flat.clone()
    model = load_flat_parameters(build_model(ModelName.FAST_CNN), flat)
    assert torch.equal(flatten_parameters(model), original)
    flat.add_(1.0)  # changing the vector afterwards must not change the model ...
    assert torch.equal(flatten_parameters(model), original)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # ... and training the model must not change the vector
    assert torch.equal(flat, original + 1.0)


def test_loading_a_vector_of_the_wrong_length_fails():
    with pytest.raises(ValueError, match="expected"):
        load_flat_parameters(build_model(ModelName.FAST_CNN), torch.zeros(3))


def test_census_networks_are_the_authors_effective_and_intended_ones():
    """SPEC §3.2: the code's bug leaves 104 → 256 → 2 (27,394 parameters); the intended net has 93,186."""
    effective, intended = build_model(ModelName.CENSUS_MLP), build_model(ModelName.CENSUS_MLP_TWO_LAYERS)
    assert count_parameters(effective) == 27_394 and count_parameters(intended) == 93_186
    assert [m.out_features for m in effective.modules() if isinstance(m, nn.Linear)] == [256, 2]
    assert [m.out_features for m in intended.modules() if isinstance(m, nn.Linear)] == [256, 256, 2]
