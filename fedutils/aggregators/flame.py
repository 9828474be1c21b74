"""FLAME (Nguyen et al., USENIX Security 2022): cluster the models, clip to the median norm, add noise.

One round, from the local models W_i = w_G^{t−1} + δ_i (paper §4, Algorithm 1):

1. c_ij = 1 − cos(W_i, W_j) over every parameter (:func:`cosine_distances`, from differences of unit vectors so
   that float32 keeps the tiny distances of models that share w_G^{t−1}; fedutils' networks have no batch-norm
   buffers, which zhmzm/FLAME#10 says to leave out);
2. HDBSCAN on c with ``min_cluster_size = n//2 + 1``, ``min_samples = 1``, ``allow_single_cluster = True``;
   the largest cluster is admitted (:func:`flame_admitted`);
3. e_i = ‖W_i − w_G^{t−1}‖ = ‖δ_i‖ for *every* i, admitted or not (zhmzm/FLAME#3), S = median(e);
4. each admitted update clipped to S: δ_i · min(1, S / e_i); their α-weighted mean w' − w_G^{t−1}
   (equal weights: the plain mean of the paper);
5. Gaussian noise N(0, σ² I) with σ = λ·S added to the step (:func:`flame`).

The result is an estimate of one update (FLAME adds it to the global model with weight 1).

Defaults and where they come from:

* λ = 0.001 (``noise_lambda``, ``--flame-lambda``): BackFed's ``config/base.yaml`` (``flame lamda``); the
  paper's value for image tasks is unverified.
* ``min_cluster_size`` n//2 + 1, ``min_samples`` 1, ``allow_single_cluster`` True: FLPoison
  ``aggregators/flame.py`` and BackFed ``backfed/servers/flame_server.py`` (the paper asks for a majority
  cluster; without ``allow_single_cluster`` HDBSCAN never returns one cluster holding everyone).

Where it differs on purpose:

* S is the median in NumPy's and :mod:`statistics`' sense — for an even n the mean of the two middle norms — not
  ``torch.median``'s lower median; the paper says "median".
* σ = λ·S exactly as the paper's formula. FLPoison and BackFed multiply it by each layer's standard deviation
  (an extra factor not in the paper), and BackFed clusters on the last two layers only; here every parameter counts.
* Ties between the largest clusters go to the lowest label (FLPoison admits label 0; BackFed the largest).
  When HDBSCAN calls every row noise (label −1 everywhere) every row is admitted, as BackFed does.
* A round of fewer than two updates is not clustered (HDBSCAN needs clusters of at least two): the row is admitted.

HDBSCAN is scikit-learn's (``sklearn.cluster.HDBSCAN``, imported when first used) and runs on the host: the
n × n distance matrix is copied there as float64 (one host sync a round, in :func:`flame_admitted`). On the
``meta`` device, which holds no values, clustering is skipped and every row admitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import (
    Aggregation,
    Aggregator,
    ServerContext,
    ServerNeed,
    check_stack,
    random_normal,
)
from fedutils.distances import pairwise_distances
from fedutils.errors import ConfigError
from fedutils.options import cli_flag, require_non_negative

NOISE_PURPOSE = 0x464C
"""The number FLAME's noise draw passes to :meth:`ServerContext.generator` (ASCII "FL")."""

WHO = "FLAME"


def cosine_distances(models: torch.Tensor) -> torch.Tensor:
    """The ``(n, n)`` matrix c_ij = 1 − cos(W_i, W_j) of the rows of ``models``, symmetric, ≥ 0, zero diagonal.

    Taken as ‖Ŵ_i − Ŵ_j‖² / 2 of the unit rows Ŵ, not as 1 − Ŵ_i·Ŵ_j: models that share w_G^{t−1} are nearly
    parallel (c ≈ 1e-8 is usual), and in float32 the dot product's rounding is larger than c itself, while the
    differences keep their relative precision. A zero row has distance 1 to every other row.
    """
    norms = models.norm(dim=1).clamp_min(torch.finfo(models.dtype).tiny)
    return pairwise_distances(models / norms.unsqueeze(1)).square() / 2


def flame_admitted(distances: torch.Tensor, min_cluster_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """HDBSCAN on a precomputed ``(n, n)`` distance matrix: which rows are admitted, and every row's label.

    Args:
        distances: the models' cosine distances (:func:`cosine_distances`).
        min_cluster_size: HDBSCAN's smallest cluster; ``None`` is n//2 + 1 (a majority).

    Returns:
        ``(admitted, labels)`` on the device of ``distances``: a boolean ``(n,)`` mask of the largest cluster
        (ties to the lowest label; every row when all are noise), and the ``(n,)`` int64 HDBSCAN labels
        (−1 for noise).
    """
    n = len(distances)
    device = distances.device
    if device.type == "meta" or n < 2:
        # meta has no values to cluster (and one row has nothing to be clustered with): admit every row
        return torch.ones(n, dtype=torch.bool, device=device), torch.zeros(n, dtype=torch.int64, device=device)
    from sklearn.cluster import HDBSCAN  # imported here: only this rule needs scikit-learn

    size = n // 2 + 1 if min_cluster_size is None else min_cluster_size
    matrix = distances.detach().to("cpu", torch.float64).numpy()  # the one host sync: n × n, once a round
    clusterer = HDBSCAN(
        metric="precomputed", min_cluster_size=size, min_samples=1, allow_single_cluster=True, copy=True
    )
    labels = torch.as_tensor(clusterer.fit_predict(matrix), dtype=torch.int64)
    clustered = labels[labels >= 0]
    if len(clustered) == 0:
        admitted = torch.ones(n, dtype=torch.bool)  # all noise: BackFed admits everyone
    else:
        admitted = labels == torch.bincount(clustered).argmax()  # argmax takes the first: the lowest label
    return admitted.to(device), labels.to(device)


def median_norm(norms: torch.Tensor) -> torch.Tensor:
    """The median of ``norms`` (a 0-dim tensor): the middle value, or for an even count the mean of the two middle
    (NumPy's and ``statistics.median``'s, not ``torch.median``'s lower one)."""
    ordered = norms.sort().values
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def flame(
    updates: torch.Tensor,
    weights: torch.Tensor,
    global_params: torch.Tensor,
    noise: torch.Tensor,
    *,
    noise_lambda: float = 0.001,
    min_cluster_size: int | None = None,
) -> Aggregation:
    """FLAME's step: the α-weighted mean of the admitted updates clipped to the median norm S, plus λ·S·``noise``.

    Args:
        updates: ``(n, d)`` updates δ_i.
        weights: ``(n,)`` aggregation weights α_i (renormalised over the admitted rows).
        global_params: ``(d,)`` w_G^{t−1}, so that the clustering compares the models w_G^{t−1} + δ_i.
        noise: ``(d,)`` a draw of N(0, I); it is scaled by σ = λ·S here (zeros give FLAME without noise).
        noise_lambda: λ.
        min_cluster_size: HDBSCAN's smallest cluster; ``None`` is n//2 + 1.

    Returns:
        the step; ``selected`` = admitted, ``clipped`` = admitted rows scaled down to S, ``cluster`` = HDBSCAN labels.
    """
    check_stack(updates, weights)
    if global_params.shape != updates.shape[1:] or noise.shape != updates.shape[1:]:
        raise ValueError(f"global_params and noise must have shape ({updates.shape[1]},)")
    require_non_negative(noise_lambda, "noise_lambda (λ)")
    models = updates + global_params.to(updates.dtype).unsqueeze(0)
    admitted, labels = flame_admitted(cosine_distances(models), min_cluster_size)
    norms = updates.norm(dim=1)
    s = median_norm(norms)
    scale = (s / norms.clamp_min(torch.finfo(updates.dtype).tiny)).clamp(max=1.0)
    clipped = updates * scale.unsqueeze(1)
    alpha = weights.to(updates.dtype) * admitted.to(updates.dtype)
    step = (alpha / alpha.sum()) @ clipped + noise_lambda * s * noise.to(updates.dtype)
    return Aggregation(step, admitted, clipped=admitted & (norms > s), cluster=labels)


@dataclass(frozen=True)
class Flame(Aggregator):
    """FLAME (:func:`flame`): HDBSCAN on the models' cosine distances admits the majority cluster, whose updates
    are clipped to the median norm S and averaged, and N(0, (λS)² I) noise is added.

    Attributes:
        noise_lambda: λ, the noise's standard deviation as a multiple of S (BackFed's 0.001; the paper's
            value is unverified). 0 adds no noise.
        min_cluster_size: HDBSCAN's smallest cluster; ``None`` is n//2 + 1 (FLPoison, BackFed).
    """

    name: ClassVar[str] = "flame"
    summary: ClassVar[str] = (
        "the majority cluster of cosine distances, clipped to the median norm, plus noise (Nguyen et al. 2022)"
    )
    needs: ClassVar[frozenset[ServerNeed]] = frozenset({ServerNeed.GLOBAL_MODEL, ServerNeed.RANDOMNESS})

    noise_lambda: float = field(
        default=0.001,
        metadata=cli_flag("--flame-lambda", "λ, FLAME's noise std as a multiple of the median norm", metavar="λ"),
    )
    min_cluster_size: int | None = None

    def validate(self) -> None:
        require_non_negative(self.noise_lambda, "noise_lambda (λ)")
        size = self.min_cluster_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 2):
            raise ConfigError(f"min_cluster_size (HDBSCAN's smallest cluster) must be an integer ≥ 2, got {size!r}.")

    def minimum_updates(self) -> int:
        return 2 if self.min_cluster_size is None else self.min_cluster_size

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        global_params = server.require(ServerNeed.GLOBAL_MODEL, WHO)
        generator = server.generator(NOISE_PURPOSE, updates.device, WHO)
        noise = random_normal(updates[0], 1.0, generator)  # σ · this = random_normal(step, σ, generator), draw for draw
        return flame(
            updates,
            weights,
            global_params.to(updates.device),
            noise,
            noise_lambda=self.noise_lambda,
            min_cluster_size=self.min_cluster_size,
        )
