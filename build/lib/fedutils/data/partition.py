"""Splitting a training set among agents.

Each function returns one index array per agent (indices into the training
split), so the data itself is never copied here.
"""

from __future__ import annotations

import numpy as np

from fedutils.errors import ConfigError

PAPER_PARTITION_SEED = 777
"""The authors seed NumPy's global RNG with 777 before permuting (SPEC §2.1)."""

DIRICHLET_MAX_ATTEMPTS = 1000


def paper_permutation(num_samples: int, seed: int = PAPER_PARTITION_SEED) -> np.ndarray:
    """The authors' permutation of the training set.

    Reproduces ``np.random.seed(777); np.random.choice(n, n, replace=False)``
    with NumPy's legacy generator, bit for bit.
    """
    return np.random.RandomState(seed).choice(num_samples, num_samples, replace=False)


def iid_shards(num_samples: int, num_agents: int, seed: int = PAPER_PARTITION_SEED) -> list[np.ndarray]:
    """Equal IID shards of the paper's permutation (``np.split`` into ``num_agents``).

    When ``num_samples`` is not a multiple of ``num_agents`` the last
    ``num_samples % num_agents`` permuted samples are left out, so every agent
    holds the same amount of data and FedAvg's α_i = 1/k is each agent's share
    (as the authors did for Adult, SPEC §2.3).
    """
    _check_num_agents(num_samples, num_agents)
    per_agent = num_samples // num_agents
    permutation = paper_permutation(num_samples, seed)[: per_agent * num_agents]
    return np.split(permutation, num_agents)


def dirichlet_shards(
    labels: np.ndarray,
    num_agents: int,
    alpha: float,
    seed: int = PAPER_PARTITION_SEED,
    min_samples: int = 1,
) -> list[np.ndarray]:
    """Non-IID shards: each class is split among agents in Dirichlet(α) proportions.

    Small α gives each agent few classes; large α approaches an IID split.
    Draws are repeated until every agent holds at least ``min_samples``
    examples (so it can fill one batch).

    Raises:
        ConfigError: no draw in ``DIRICHLET_MAX_ATTEMPTS`` satisfied ``min_samples``.
    """
    if alpha <= 0:
        raise ConfigError(f"dirichlet_alpha must be positive, got {alpha}.")
    _check_num_agents(len(labels), num_agents)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    for _ in range(DIRICHLET_MAX_ATTEMPTS):
        pieces: list[list[np.ndarray]] = [[] for _ in range(num_agents)]
        for indices in by_class:
            shares = rng.dirichlet(np.full(num_agents, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(indices)).astype(int)
            for agent, part in enumerate(np.split(indices, cuts)):
                pieces[agent].append(part)
        shards = [np.sort(np.concatenate(p)) for p in pieces]
        if min(len(s) for s in shards) >= min_samples:
            return shards
    raise ConfigError(
        f"dirichlet_alpha={alpha} with {num_agents} agents left some agent with fewer than "
        f"{min_samples} samples in {DIRICHLET_MAX_ATTEMPTS} draws; use a larger alpha or fewer agents."
    )


def class_counts(labels: np.ndarray, shards: list[np.ndarray], num_classes: int) -> np.ndarray:
    """Counts of each class held by each agent, shape ``(num_agents, num_classes)``."""
    return np.stack([np.bincount(labels[s], minlength=num_classes) for s in shards])


def _check_num_agents(num_samples: int, num_agents: int) -> None:
    if not 1 <= num_agents <= num_samples:
        raise ConfigError(f"k (number of agents) must be between 1 and {num_samples}, got {num_agents}.")
