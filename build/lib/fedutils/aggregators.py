"""Server-side aggregation rules: pure functions on stacked updates.

Every rule takes ``updates`` of shape ``(n_agents, n_params)`` (row i is
agent i's flat update δ_i) and the agents' aggregation ``weights`` of shape
``(n_agents,)``, and returns the global step of shape ``(n_params,)``. No
model and no data are involved, so each rule can be checked on tiny tensors.
"""

from __future__ import annotations

import torch


def fedavg(updates: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Federated averaging (McMahan et al. 2017): the global step Σ_i α_i δ_i.

    With the paper's fixed weights α_i = l_i / l = 1/k (Bhagoji et al. 2019,
    §2), the weights of the agents selected in a round sum to C rather than 1
    when only a fraction C of the k agents take part, exactly as in the
    authors' code (SPEC §2.4).
    """
    _check_stack(updates, weights)
    return weights.to(updates.dtype) @ updates


def _check_stack(updates: torch.Tensor, weights: torch.Tensor) -> None:
    if updates.ndim != 2:
        raise ValueError(f"updates must have shape (n_agents, n_params), got {tuple(updates.shape)}")
    if weights.shape != (updates.shape[0],):
        raise ValueError(f"weights must have shape ({updates.shape[0]},), got {tuple(weights.shape)}")
