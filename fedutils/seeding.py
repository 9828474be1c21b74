"""Independent, reproducible random streams derived from one run seed.

Each source of randomness (model initialisation, agent sampling, local
training of agent i in round t, ...) gets its own seed derived from the run
seed with NumPy's ``SeedSequence``. Streams therefore do not depend on the
order in which work is done: running agents in another order, or in worker
processes, gives the same numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import IntEnum

import numpy as np
import torch

from fedutils.dropout import device_generator, masks_from


class Stream(IntEnum):
    """What a derived seed is used for (part of the derivation key)."""

    INIT = 0
    AGENT_SAMPLING = 1
    LOCAL_TRAINING = 2
    POISONING = 3
    DROPOUT = 4
    SECURE_QUANTISATION = 5
    SERVER = 6


def derive_seed(seed: int, stream: Stream, *indices: int) -> int:
    """A 63-bit seed for ``stream`` (and e.g. round and agent ``indices``) of run ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(int(stream), *indices))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def numpy_rng(seed: int, stream: Stream, *indices: int) -> np.random.Generator:
    """A NumPy generator on a derived stream."""
    return np.random.default_rng(derive_seed(seed, stream, *indices))


SEEDABLE_ACCELERATORS = ("cuda", "mps")
"""Device types whose global torch generator :func:`global_rngs_seeded` seeds (and restores) beside the CPU's."""


@contextlib.contextmanager
def global_rngs_seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Torch's global generators of the CPU and of ``device`` (one CUDA device, or MPS) seeded with ``seed``
    inside the block only, and restored afterwards; no other device's generator is touched (where
    ``torch.manual_seed`` reseeds every GPU, for good)."""
    device = torch.device(device)
    accelerator = device.type if device.type in SEEDABLE_ACCELERATORS else None
    with torch.random.fork_rng(devices=[device] if accelerator else [], device_type=accelerator):
        torch.random.default_generator.manual_seed(seed)
        if accelerator == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            torch.cuda.default_generators[index].manual_seed(seed)
        elif accelerator == "mps":
            torch.mps.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[torch.Generator]:
    """The seeded streams of one block of work (an agent's round, the initial model) on ``device``.

    Inside the block torch's global generators of the CPU and ``device`` are
    seeded with ``seed`` (for the initialisation; restored afterwards), and
    fedutils' dropout layers draw their masks from a generator on ``device``
    seeded with ``seed`` (:func:`fedutils.dropout.masks_from`, the stream the
    stacked path gives each copy). Yields a CPU ``torch.Generator`` with the
    same seed, for explicit draws such as batch permutations.
    """
    with global_rngs_seeded(seed, device), masks_from(device_generator(device, seed)):
        yield torch.Generator().manual_seed(seed)
