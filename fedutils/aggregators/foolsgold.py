"""FoolsGold (Fung, Yoon & Beschastnikh, "The Limitations of Federated Learning in Sybil Settings", RAID 2020,
Algorithm 1): give little weight to agents whose updates, summed over the rounds, point the same way.

Sybils pushing one poisoning objective send updates that look alike round after round,
while honest agents with their own data drift apart. FoolsGold keeps, per agent id, the
history H_i = Σ_t δ_{i,t} of everything the agent sent (this round's update included) and,
among this round's agents:

1. cs_ij = cos(H_i, H_j), its own similarity cs_ii counted as 0; v_i = max_j cs_ij + ε.
2. Pardoning: for i ≠ j with v_i < v_j, cs_ij ← cs_ij · v_i / v_j (an honest agent that merely
   resembles a sybil is not punished as one).
3. a_i = 1 − max_j cs_ij, clipped to [0, 1]; a ← a / max_j a_j; a_i = 1 becomes 0.99.
4. a_i = κ (ln(a_i / (1 − a_i) + ε) + 0.5), then clipped to [0, 1] (≥ 1 or +∞ → 1, < 0 → 0).

The step is the weighted mean Σ_i a_i α_i δ_i / Σ_i a_i α_i — zero when every a_i is 0 — an
estimate of one update.

Checked against the reference (``DistributedML/FoolsGold`` at 0aa5511: ``deep-fg/fg/foolsgold.py``
and ``ML/code/model_aggregator.py::foolsgold``):

* The similarity matrix is ``cosine_similarity(H) − I``: the diagonal becomes 0 rather than
  being left out, so v_i = max(0, max_{j≠i} cs_ij) is never negative, and a row whose other
  similarities are all negative gets a_i = 1. This rule does the same, with the diagonal exactly
  0 (an agent with a zero history has cosine 0 with everyone, as scikit-learn's). In ``deep-fg``
  (no ε) the diagonal's rounding (cos(H_i, H_i) − 1 = ±2e-16) can make v_i < v_j with both
  ≈ 0 and flip the sign of cs_ij in pardoning; with ε, as here, it cannot. Checked locally on
  random stacks: these weights equal the ``ML`` version's to 4e-15, and ``deep-fg``'s (ε = 0)
  once its diagonal is exact.
* ε = 1e-5 is the ``ML`` version's: it is added to v (before pardoning) and inside the logarithm.
  The ``deep-fg`` version has no ε (there a_i = 0 gives ln 0 = −∞, clipped to 0 as here).
* Neither version has κ; it is the paper's confidence parameter (κ = 1 is the code's, and
  BackFed's ``confidence 1``).
* Step 4's clipping is the reference's ``wv[isinf(wv) + wv > 1] = 1; wv[wv < 0] = 0``.
* The reference's step is a weighted *sum*: ``ML`` returns ``np.dot(delta.T, wv)`` = Σ a_i δ_i,
  ``deep-fg`` (``trainer.py::aggregate_gradients``) Σ a_i δ_i / n, the learning rate absorbing
  the scale (FLPoison also returns the sum). Here the step is the a·α-weighted *mean*, the size
  of one update, as the other robust rules return: with equal α it is the reference's sum
  divided by Σ a_i.
* The reference's history: ``deep-fg`` sums the raw gradients of the output layer's weights
  only; ``ML`` first scales each update to norm ≤ 1 (FLPoison too). Here H_i sums the raw updates
  over every parameter.
* The history is kept per agent *id* (:class:`HistoryState`), not per row: under partial
  participation the rows of two rounds are different agents (FedMLSecurity keys it by position).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import Aggregation, Aggregator, RuleState, ServerContext, ServerNeed, check_stack
from fedutils.options import cli_flag, require_non_negative, require_positive


def foolsgold_weights(histories: torch.Tensor, *, kappa: float = 1.0, epsilon: float = 1e-5) -> torch.Tensor:
    """FoolsGold's learning rates a_i ∈ [0, 1], one per row of ``histories`` (the agents' H_i, shape ``(n, d)``)."""
    n = len(histories)
    tiny = torch.finfo(histories.dtype).tiny
    unit = histories / histories.norm(dim=1, keepdim=True).clamp_min(tiny)  # a zero history stays zero
    eye = torch.eye(n, dtype=torch.bool, device=histories.device)
    similarity = (unit @ unit.T).masked_fill(eye, 0.0)  # the reference's cos − I
    v = similarity.max(dim=1).values + epsilon
    lower = v.unsqueeze(1) < v.unsqueeze(0)  # pardon cs_ij where v_i < v_j
    similarity = similarity * torch.where(lower, v.unsqueeze(1) / v.unsqueeze(0).clamp_min(tiny), 1.0)
    a = (1 - similarity.max(dim=1).values).clamp(0.0, 1.0)
    a = a / a.max().clamp_min(tiny)
    a = torch.where(a == 1, 0.99, a)
    return (kappa * (torch.log(a / (1 - a) + epsilon) + 0.5)).clamp(0.0, 1.0)


def foolsgold(
    updates: torch.Tensor,
    weights: torch.Tensor,
    histories: torch.Tensor,
    *,
    kappa: float = 1.0,
    epsilon: float = 1e-5,
) -> Aggregation:
    """The step Σ_i a_i α_i δ_i / Σ_i a_i α_i with FoolsGold's a_i from ``histories`` (zero when no a_i α_i > 0).

    Args:
        updates: this round's δ_i, shape ``(n, n_params)``.
        weights: α, shape ``(n,)``.
        histories: the same agents' H_i, this round's updates included, shape ``(n, n_params)``.
        kappa: κ, the logit's confidence.
        epsilon: ε, added to v and inside the logarithm.

    Returns:
        The step; ``selected``: the rows with a_i > 0; ``weight``: a_i α_i / Σ a_j α_j (zeros when the sum is 0).
    """
    check_stack(updates, weights)
    if histories.shape != updates.shape:
        raise ValueError(f"histories must have the updates' shape {tuple(updates.shape)}, got {tuple(histories.shape)}")
    a = foolsgold_weights(histories.to(updates.dtype), kappa=kappa, epsilon=epsilon)
    share = a * weights.to(updates.dtype)
    weight = share / share.sum().clamp_min(torch.finfo(updates.dtype).tiny)
    return Aggregation(weight @ updates, a > 0, weight=weight)


@dataclass(frozen=True)
class HistoryState(RuleState):
    """FoolsGold's memory: per agent id, the sum H_i of every update that agent has sent.

    Attributes:
        histories: agent id → H_i, shape ``(n_params,)``.
    """

    histories: Mapping[int, torch.Tensor] = field(default_factory=dict)

    def added(self, agent_ids: Sequence[int], updates: torch.Tensor) -> tuple[HistoryState, torch.Tensor]:
        """The state with row i of ``updates`` added to agent ``agent_ids[i]``'s history, and those histories
        stacked in the rows' order (an agent seen for the first time starts from zero)."""
        ids = tuple(agent_ids)
        if len(ids) != len(updates) or len(set(ids)) != len(ids):
            raise ValueError(f"agent_ids must name {len(updates)} distinct agents, one per row, got {ids}.")
        rows = []
        for agent, update in zip(ids, updates, strict=True):
            previous = self.histories.get(agent)
            rows.append(update.clone() if previous is None else previous.to(update) + update)
        return HistoryState({**self.histories, **dict(zip(ids, rows, strict=True))}), torch.stack(rows)

    def summary(self) -> dict[str, float]:
        values = list(self.histories.values())
        if not values:
            return {"agents_with_history": 0.0, "history_norm_max": 0.0}
        if values[0].device.type == "meta":  # shapes without values: nothing to read
            return {"agents_with_history": float(len(values)), "history_norm_max": float("nan")}
        largest = torch.stack([h.norm() for h in values]).max()
        return {"agents_with_history": float(len(values)), "history_norm_max": float(largest)}


@dataclass(frozen=True)
class FoolsGold(Aggregator):
    """FoolsGold (:func:`foolsgold`): each agent weighed down by how closely its summed updates resemble another
    agent's, its history carried from round to round (:class:`HistoryState`, keyed by agent id).

    Attributes:
        kappa: κ, the logit's confidence (1.0: the reference code has none, i.e. 1; BackFed ``confidence 1``).
        epsilon: ε, added to v and inside the logarithm (1e-5, the reference's ``ML/code/model_aggregator.py``).
    """

    name: ClassVar[str] = "foolsgold"
    summary: ClassVar[str] = (
        "agents weighed down by the similarity of their summed updates, kept per agent (FoolsGold, Fung et al. 2020)"
    )
    needs: ClassVar[frozenset[ServerNeed]] = frozenset({ServerNeed.AGENT_IDS})

    kappa: float = field(
        default=1.0, metadata=cli_flag("--fg-kappa", "κ, the confidence of FoolsGold's logit", metavar="κ")
    )
    epsilon: float = 1e-5

    def validate(self) -> None:
        require_positive(self.kappa, "kappa (κ, FoolsGold's confidence)")
        require_non_negative(self.epsilon, "epsilon (ε, FoolsGold's guard)")

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        check_stack(updates, weights)
        server = server or ServerContext()
        agent_ids = server.require(ServerNeed.AGENT_IDS, self.name)
        previous = HistoryState() if server.state is None else server.state
        if not isinstance(previous, HistoryState):
            raise ValueError(f"FoolsGold carries a HistoryState, got {type(previous).__name__}.")
        state, histories = previous.added(agent_ids, updates)
        result = foolsgold(updates, weights, histories, kappa=self.kappa, epsilon=self.epsilon)
        return dataclasses.replace(result, state=state)
