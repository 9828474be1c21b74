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


class Stream(IntEnum):
    """What a derived seed is used for (part of the derivation key)."""

    INIT = 0
    AGENT_SAMPLING = 1
    LOCAL_TRAINING = 2
    POISONING = 3
    DROPOUT = 4


def derive_seed(seed: int, stream: Stream, *indices: int) -> int:
    """A 63-bit seed for ``stream`` (and e.g. round and agent ``indices``) of run ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(int(stream), *indices))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def numpy_rng(seed: int, stream: Stream, *indices: int) -> np.random.Generator:
    """A NumPy generator on a derived stream."""
    return np.random.default_rng(derive_seed(seed, stream, *indices))


@contextlib.contextmanager
def torch_seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[torch.Generator]:
    """Seed torch's global RNGs (used by dropout and init) inside the block only.

    Yields a CPU ``torch.Generator`` with the same seed, for explicit draws
    such as batch permutations. The RNG state outside the block is restored
    afterwards.
    """
    device = torch.device(device)
    forked = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)
