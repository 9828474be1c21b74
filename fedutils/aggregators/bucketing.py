"""Bucketing (Karimireddy, He & Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via Bucketing",
ICLR 2022): shuffle the updates, average them in buckets of s, and give the rule the buckets.

With a random permutation π of the n rows, bucket k (k = 1 … ⌈n/s⌉) holds the rows
π((k−1)s + 1) … π(ks) (the last bucket the fewer that remain) and passes on

    y_k = Σ_{i ∈ B_k} α_i δ_i / Σ_{i ∈ B_k} α_i   with weight   w_k = Σ_{i ∈ B_k} α_i.

Averaging s honest updates shrinks their spread (the heterogeneity a robust rule
mistakes for an attack), while f attackers end up in at most f buckets; a robust
rule behind bucketing sees ⌈n/s⌉ rows. The weights make FedAvg behind bucketing
take FedAvg's own step (Σ_k w_k y_k = Σ_i α_i δ_i).

Reference: ``epfml/byzantine-robust-noniid-optimizer`` ``utils.py::bucketing_wrapper``
(``--bucketing s``; the experiments use s = 2, the default here), which takes the
plain mean of each bucket: with equal weights the α-weighted mean is that mean, and
so is ByzFL's ``Bucketing(s)`` (default s = 1, a no-op). ByzFL draws π with
``np.random.permutation`` on NumPy's global generator; here π comes from the run's
seed, the round and :data:`SHUFFLE` (:meth:`ServerContext.generator`), so a run is
reproducible whatever else draws random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from fedutils.aggregators.base import PreAggregation, PreAggregator, ServerContext, ServerNeed, check_stack
from fedutils.options import cli_flag, require_positive_int

SHUFFLE = 0x4255
"""The ``purpose`` number of bucketing's shuffle among the server's draws of a round ("BU" in ASCII)."""


def bucketing(
    updates: torch.Tensor, weights: torch.Tensor, bucket_size: int, permutation: torch.Tensor
) -> PreAggregation:
    """The rows taken in ``permutation``'s order in runs of ``bucket_size`` (the last run shorter), each run's
    α-weighted mean with the run's summed α as its weight.

    A bucket whose weights sum to 0 passes on the plain mean of its rows (with weight 0).

    Args:
        updates: shape ``(n, n_params)``.
        weights: α, shape ``(n,)``.
        bucket_size: s ≥ 1.
        permutation: π, a permutation of ``0 … n − 1`` on ``updates``' device.

    Returns:
        ⌈n/s⌉ rows, their weights, and ``sources``: per bucket, the rows it is made of.
    """
    check_stack(updates, weights)
    require_positive_int(bucket_size, "bucket_size (s, the updates per bucket)")
    n, width = updates.shape
    if permutation.shape != (n,):
        raise ValueError(f"permutation must have shape ({n},), got {tuple(permutation.shape)}")
    buckets = math.ceil(n / bucket_size)
    padding = buckets * bucket_size - n  # the last bucket's missing rows: zeros with weight 0
    rows = torch.cat([updates.index_select(0, permutation), updates.new_zeros(padding, width)])
    alpha = torch.cat([weights.to(updates.dtype).index_select(0, permutation), updates.new_zeros(padding)])
    present = torch.cat([updates.new_ones(n), updates.new_zeros(padding)])
    rows = rows.reshape(buckets, bucket_size, width)
    alpha = alpha.reshape(buckets, bucket_size)
    present = present.reshape(buckets, bucket_size)
    total = alpha.sum(dim=1)
    share = torch.where(
        (total > 0).unsqueeze(1), alpha / total.unsqueeze(1), present / present.sum(dim=1, keepdim=True)
    )
    merged = torch.einsum("bs,bsp->bp", share, rows)
    position = torch.arange(n, device=updates.device)
    sources = torch.zeros(buckets, n, dtype=torch.bool, device=updates.device)
    sources[position // bucket_size, permutation] = True
    return PreAggregation(merged, total.to(weights.dtype), sources=sources)


@dataclass(frozen=True)
class Bucketing(PreAggregator):
    """Bucketing (:func:`bucketing`) with a permutation drawn each round from the run's seed.

    Attributes:
        bucket_size: s, the updates averaged per bucket (2, the reference's experiments; ByzFL's default 1 is a
            no-op).
    """

    name: ClassVar[str] = "bucketing"
    summary: ClassVar[str] = "shuffled updates averaged in buckets of s before the rule (Karimireddy et al. 2022)"
    needs: ClassVar[frozenset[ServerNeed]] = frozenset({ServerNeed.RANDOMNESS})

    bucket_size: int = field(
        default=2, metadata=cli_flag("--bucket-size", "s, the updates averaged per bucket", metavar="S")
    )

    def validate(self) -> None:
        require_positive_int(self.bucket_size, "bucket_size (s, the updates per bucket)")

    def rows_out(self, rows_in: int) -> int:
        return math.ceil(rows_in / self.bucket_size)

    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> PreAggregation:
        check_stack(updates, weights)
        generator = server.generator(SHUFFLE, "cpu", self.name)
        permutation = torch.randperm(len(updates), generator=generator).to(updates.device)
        return bucketing(updates, weights, self.bucket_size, permutation)
