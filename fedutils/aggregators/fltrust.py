"""FLTrust (Cao, Fang, Liu & Gong, "FLTrust: Byzantine-robust Federated Learning via Trust Bootstrapping",
NDSS 2021): weigh each update by how well its direction agrees with the server's own.

Each round the server trains the global model w_G^{t−1} on its small clean *root set*, as the
clients train, and gets its own update g_0 (the federation computes it and passes it as
:attr:`ServerContext.server_update`). Then, for each update δ_i,

    TS_i = ReLU(cos(δ_i, g_0)),   δ̄_i = (‖g_0‖ / ‖δ_i‖) δ_i,   step = Σ_i TS_i δ̄_i / Σ_i TS_i.

An update pointing away from g_0 (cosine ≤ 0) gets no trust; every update is rescaled to
g_0's length, so boosting an update buys no influence. The step is an estimate of one update
(the trust-weighted mean of updates of length ‖g_0‖).

Choices, and where they differ from the peers:

* The paper weighs the rows by trust alone, not by the agents' aggregation weights α; so does
  this rule (α is ignored).
* When no update earns trust (Σ TS_i = 0) the paper's formula gives no step and neither does
  this rule: it divides by max(Σ TS_i, tiny), whose numerator is then 0. FLPoison
  (``aggregators/fltrust.py``) falls back to uniform weights instead; BackFed keeps the model.
* A zero update has cosine 0 with g_0 (no division by zero), so it earns no trust.

Defaults: the root set holds 100 examples (the paper's; FLPoison ``num_sample 100``). The
paper's *bias probability* draws each root example from one class with probability p and
from the other classes uniformly otherwise (p = 1/L, L classes, is unbiased); ``root_bias =
None`` is an unbiased draw from the server's data. The federation draws the root set
(:func:`fedutils.data.root_set.root_set_indices`); this class holds and checks the options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from fedutils.aggregators.base import Aggregation, Aggregator, ServerContext, ServerNeed, check_stack
from fedutils.data.root_set import root_set_indices
from fedutils.options import cli_flag, require_fraction, require_non_negative_int, require_positive_int


def trust_scores(updates: torch.Tensor, server_update: torch.Tensor) -> torch.Tensor:
    """TS_i = ReLU(cos(δ_i, g_0)) per row of ``updates`` (0 for a zero row, or for every row when g_0 = 0)."""
    tiny = torch.finfo(updates.dtype).tiny
    norms = updates.norm(dim=1) * server_update.norm()
    return ((updates @ server_update) / norms.clamp_min(tiny)).clamp_min(0.0)


def fltrust(updates: torch.Tensor, weights: torch.Tensor, server_update: torch.Tensor) -> Aggregation:
    """FLTrust's step Σ_i TS_i (‖g_0‖ / ‖δ_i‖) δ_i / Σ_i TS_i (zero when Σ_i TS_i = 0).

    Args:
        updates: shape ``(n, n_params)``.
        weights: α, shape ``(n,)``; checked but not used (the paper weighs by trust alone).
        server_update: g_0, shape ``(n_params,)``: the server's update on its root set.

    Returns:
        The step; ``selected``: the rows with positive trust; ``weight``: TS_i / Σ TS (zeros when no row is
        trusted).
    """
    check_stack(updates, weights)
    if server_update.shape != updates.shape[1:]:
        raise ValueError(f"server_update must have shape ({updates.shape[1]},), got {tuple(server_update.shape)}")
    g0 = server_update.to(dtype=updates.dtype, device=updates.device)
    tiny = torch.finfo(updates.dtype).tiny
    trust = trust_scores(updates, g0)
    total = trust.sum().clamp_min(tiny)
    # TS_i ‖g_0‖ / ‖δ_i‖, 0 where TS_i = 0 (which covers every zero row)
    rescale = torch.where(trust > 0, trust * g0.norm() / updates.norm(dim=1).clamp_min(tiny), 0.0)
    return Aggregation((rescale @ updates) / total, trust > 0, weight=trust / total)


BIASED_POOL = 20
"""How many times the root set's size a biased root set is drawn from (Fashion-MNIST's ten classes: about twice
what a root set of one class needs)."""


@dataclass(frozen=True)
class FLTrust(Aggregator):
    """FLTrust (:func:`fltrust`): updates rescaled to the server's update's length, weighed by their positive
    cosine with it.

    Attributes:
        root_samples: the examples in the server's root set (100, the paper's).
        root_bias: the paper's bias probability p: each root example is drawn from ``bias_class`` with
            probability p, else from the other classes uniformly; ``None`` (the default) draws the root set
            uniformly from the server's data.
        bias_class: the class the biased root set favours (0).
    """

    name: ClassVar[str] = "fltrust"
    summary: ClassVar[str] = (
        "updates rescaled to the server's own update and weighed by their positive cosine with it "
        "(FLTrust, Cao et al. 2021)"
    )
    needs: ClassVar[frozenset[ServerNeed]] = frozenset({ServerNeed.SERVER_UPDATE})

    root_samples: int = field(
        default=100, metadata=cli_flag("--root-samples", "examples in the server's root set", metavar="N")
    )
    root_bias: float | None = field(
        default=None,
        metadata=cli_flag(
            "--root-bias",
            "the root set's bias probability: each example drawn from the bias class with this probability, "
            "else from the others (default: an unbiased draw)",
            metavar="P",
        ),
    )
    bias_class: int = field(
        default=0, metadata=cli_flag("--root-bias-class", "the class a biased root set favours", metavar="CLASS")
    )

    def validate(self) -> None:
        require_positive_int(self.root_samples, "root_samples (examples in FLTrust's root set)")
        if self.root_bias is not None:
            require_fraction(self.root_bias, "root_bias (the root set's bias probability)")
        require_non_negative_int(self.bias_class, "bias_class (the class a biased root set favours)")

    def reserved_samples(self) -> int:
        """The root set itself when it is drawn uniformly; a pool ``BIASED_POOL`` times larger when it is biased, so
        that the favoured class has enough examples to draw from."""
        return self.root_samples * (1 if self.root_bias is None else BIASED_POOL)

    def root_indices(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The root set among the server's reserved examples (:func:`~fedutils.data.root_set.root_set_indices`)."""
        return root_set_indices(labels, self.root_samples, rng, bias=self.root_bias, bias_class=self.bias_class)

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        server_update = (server or ServerContext()).require(ServerNeed.SERVER_UPDATE, self.name)
        return fltrust(updates, weights, server_update)
