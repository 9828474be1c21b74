"""Dropout whose masks come from the agent's own seeded generator, drawn one way on every path and device.

An honest agent trains with dropout (SPEC §3.1: model A drops 25 % after its
convolutions and 50 % after its dense layer). Its masks must not depend on
how the federation is executed: an agent trained alone, its copy trained in
a stack of agents (:class:`~fedutils.simulation.batched.StackedNetwork`), or
the same agent answering as a Flower client must draw the same masks from
the same seed. ``nn.Dropout`` cannot promise that: it draws from torch's
global generator of the device, with a fused kernel on a GPU whose mapping
from random numbers to elements is not the stacked path's (and differs from
one GPU model to another). So every network of :mod:`fedutils.models` uses
:class:`Dropout`, which, inside :func:`masks_from` (entered by
:func:`~fedutils.seeding.torch_seeded` for each agent's round), multiplies
by :func:`dropout_noise` drawn from that block's generator — the function the
stacked path calls with each copy's generator. On a CPU the masks are the
numbers ``nn.Dropout`` draws from the same seed, so no record changed when
the networks moved to it. Outside such a block (a network used on its own)
it is ``nn.Dropout``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import torch
from torch import nn

_MASK_GENERATOR: ContextVar[torch.Generator | None] = ContextVar("fedutils_dropout_generator", default=None)
"""The generator the :class:`Dropout` layers of the running block draw from (per thread, as a context variable)."""

HOST_GENERATOR_DEVICES = ("meta",)
"""Device types with no generator of their own: a CPU generator stands in (its draws are never materialised)."""


def device_generator(device: torch.device | str, seed: int) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (on the ``meta`` device, a CPU one: see the constant)."""
    device = torch.device(device)
    where = torch.device("cpu") if device.type in HOST_GENERATOR_DEVICES else device
    return torch.Generator(where).manual_seed(seed)


def dropout_noise(shape: tuple[int, ...], p: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """What dropout multiplies its input by in training: Bernoulli(1 − p) noise divided by 1 − p, drawn from
    ``generator``, with the dtype and device of ``like`` (what ``F.dropout`` draws on a CPU, number for number)."""
    if p == 0:
        return like.new_ones(shape)
    if p == 1:
        return like.new_zeros(shape)
    return like.new_empty(shape).bernoulli_(1 - p, generator=generator).div_(1 - p)


@contextlib.contextmanager
def masks_from(generator: torch.Generator) -> Iterator[torch.Generator]:
    """Inside the block, every :class:`Dropout` in training mode draws its masks from ``generator``."""
    token = _MASK_GENERATOR.set(generator)
    try:
        yield generator
    finally:
        _MASK_GENERATOR.reset(token)


class Dropout(nn.Dropout):
    """``nn.Dropout`` that, inside :func:`masks_from`, draws its mask with :func:`dropout_noise` from the block's
    generator (see the module docstring); elsewhere, and in eval mode, it is ``nn.Dropout``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        generator = _MASK_GENERATOR.get()
        if not self.training or generator is None:
            return super().forward(x)
        return x * dropout_noise(tuple(x.shape), self.p, generator, x)
