"""One dropout for every path: an agent's masks come from its own seeded generator, drawn by one function.

The sequential path (an agent trained alone, as attackers and Flower clients are) and the stacked path
(:class:`~fedutils.simulation.batched.StackedNetwork`) must draw the same masks for the same agent and seed,
on any device. Here both are watched drawing them on the CPU; on a GPU the prepared call compares them
(``scripts/gpu_check.py``, whose :func:`~tools.gpu_check.dropout_masks` watches them here too).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fedutils import dropout
from fedutils.seeding import global_rngs_seeded, torch_seeded
from fedutils.simulation import batched
from tools import gpu_check


def test_an_agent_alone_and_its_stacked_copy_draw_the_same_masks_by_one_function():
    """Model A has two dropout layers; each of three agents' masks, step by step and layer by layer, are the
    same tensors whether the agent trains alone or as one copy of a stack (the GPU call compares them on CUDA)."""
    assert batched.dropout_noise is dropout.dropout_noise  # one function for both paths
    alone, stacked = gpu_check.dropout_masks(torch.device("cpu"))
    assert len(alone) == len(stacked) == len(gpu_check.SEEDS)  # one generator per agent, on each path
    for masks, copy_masks in zip(alone, stacked, strict=True):
        assert len(masks) == len(copy_masks) > 0
        assert all(torch.equal(a, b) for a, b in zip(masks, copy_masks, strict=True))
    assert not torch.equal(alone[0][0], alone[1][0])  # and each agent has its own stream


def test_outside_a_seeded_block_it_is_torchs_dropout_and_in_eval_mode_nothing():
    layer, reference = dropout.Dropout(0.5).train(), nn.Dropout(0.5).train()
    x = torch.ones(4, 64)
    with global_rngs_seeded(3):
        ours = layer(x)
    with global_rngs_seeded(3):
        theirs = reference(x)
    assert torch.equal(ours, theirs)
    assert torch.equal(layer.eval()(x), x)


def test_inside_a_seeded_block_the_masks_are_nn_dropouts_from_the_same_seed_on_the_cpu():
    """So no CPU record moved when the networks took fedutils' dropout."""
    x = torch.rand(8, 32)
    with torch_seeded(9):
        ours = dropout.Dropout(0.25).train()(x)
    with global_rngs_seeded(9):
        theirs = nn.Dropout(0.25).train()(x)
    assert torch.equal(ours, theirs)


def test_a_seeded_block_leaves_the_global_generator_and_the_mask_stream_as_they_were():
    before = torch.random.get_rng_state()
    with torch_seeded(4):
        torch.rand(3)
        assert dropout._MASK_GENERATOR.get() is not None
    assert torch.equal(torch.random.get_rng_state(), before)
    assert dropout._MASK_GENERATOR.get() is None


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_the_edge_rates_keep_or_drop_everything(p):
    noise = dropout.dropout_noise((2, 3), p, torch.Generator(), torch.empty(0))
    assert torch.equal(noise, torch.full((2, 3), 1.0 - p))


def test_the_meta_device_draws_from_a_cpu_generator():
    assert dropout.device_generator("meta", 1).device.type == "cpu"
    assert dropout.device_generator("cpu", 1).initial_seed() == 1
