"""Coordinate-wise rules (Yin et al. 2018): the median and the trimmed mean of every parameter separately.

Each coordinate of the step is computed from that coordinate's n values
alone, so no single update decides the step — but an attacker can still
move every coordinate a little, which is all a targeted attack may need.
"""

from __future__ import annotations

import torch

from fedutils.aggregators.base import Aggregation, all_rows, check_stack, row_shares
from fedutils.errors import ConfigError


def _middle(updates: torch.Tensor, trim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per coordinate, the values ranked ``trim … n − trim − 1`` and, per row, the share of coordinates it kept."""
    n = len(updates)
    values, ranks = updates.sort(dim=0, stable=True)
    return values[trim : n - trim], row_shares(ranks[trim : n - trim], n, updates.dtype)


def coordinate_median(updates: torch.Tensor, weights: torch.Tensor) -> Aggregation:
    """Per coordinate, the median of the n values (the mean of the two middle ones when n is even).

    ``coordinate_share`` credits each row with the coordinates where its value
    is (one of) the median's, half a coordinate each for the two middle values.
    """
    check_stack(updates, weights)
    n = len(updates)
    middle, share = _middle(updates, (n - 1) // 2)
    return Aggregation(middle.mean(dim=0), all_rows(updates), share)


def trimmed_mean(updates: torch.Tensor, weights: torch.Tensor, trim: int) -> Aggregation:
    """Per coordinate, the mean after dropping the ``trim`` largest and ``trim`` smallest values.

    ``coordinate_share`` is, per row, the fraction of the kept values that are its own.
    """
    check_stack(updates, weights)
    n = len(updates)
    if isinstance(trim, bool) or not isinstance(trim, int) or trim < 0 or 2 * trim >= n:
        raise ConfigError(f"trim (values dropped at each end) must be an integer in [0, {(n - 1) // 2}], got {trim!r}.")
    middle, share = _middle(updates, trim)
    return Aggregation(middle.mean(dim=0), all_rows(updates), share)
