"""What every aggregation rule returns, and the checks every rule makes of its input.

A rule takes ``updates`` of shape ``(n_agents, n_params)`` — row i is agent
i's flat update δ_i — and the agents' aggregation ``weights`` α_i of shape
``(n_agents,)``, and returns an :class:`Aggregation`: the global step and a
report of what the rule did with each row, so the federation can record,
for example, the rounds in which Krum chose the attacker.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedutils.errors import ConfigError
from fedutils.options import require_non_negative_int


@dataclass(frozen=True)
class Aggregation:
    """A rule's result.

    Attributes:
        step: the global step, shape ``(n_params,)``. FedAvg returns Σ_i α_i δ_i;
            the robust rules return an estimate of one typical update (what the
            authors added to the global model with weight 1, SPEC §7).
        selected: per row, whether the rule used that update (Krum's choice,
            Multi-Krum's and Bulyan's selections; every row for the others).
        coordinate_share: per row, the fraction of coordinates in which that
            row's value entered the step (coordinate-wise rules), else ``None``.
        clipped: per row, whether its update was scaled down (norm clipping), else ``None``.
    """

    step: torch.Tensor
    selected: torch.Tensor
    coordinate_share: torch.Tensor | None = None
    clipped: torch.Tensor | None = None


def check_stack(updates: torch.Tensor, weights: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``updates`` is ``(n, p)`` and ``weights`` is ``(n,)``."""
    if updates.ndim != 2:
        raise ValueError(f"updates must have shape (n_agents, n_params), got {tuple(updates.shape)}")
    if weights.shape != (updates.shape[0],):
        raise ValueError(f"weights must have shape ({updates.shape[0]},), got {tuple(weights.shape)}")


def require_byzantine_margin(n: int, f: int, needed: int, rule: str, condition: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``n ≥ needed`` (the rule's assumption on n and f)."""
    require_non_negative_int(f, f"f (the number of Byzantine agents {rule} assumes)")
    if n < needed:
        raise ConfigError(f"{rule} with f = {f} needs {condition}, that is at least {needed} updates; got {n}.")


def row_shares(rows: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Per row 0 … n−1, the fraction of the entries of ``rows`` (row indices of the values a step used) that are it."""
    counts = torch.zeros(n, dtype=dtype, device=rows.device)
    counts.index_add_(0, rows.flatten(), torch.ones(rows.numel(), dtype=dtype, device=rows.device))
    return counts / rows.numel()


def all_rows(updates: torch.Tensor) -> torch.Tensor:
    """A ``selected`` mask that keeps every row."""
    return torch.ones(len(updates), dtype=torch.bool, device=updates.device)
