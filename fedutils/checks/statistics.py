"""Summary statistics of weight updates (SPEC §6.3): what their histograms show, in numbers."""

from __future__ import annotations

import pandas as pd
import torch

NEGLIGIBLE_CHANGE = 1e-7
"""Update values at most this large in magnitude count as unchanged (the authors' histogram cut-off)."""


def update_statistics(
    updates: torch.Tensor, mask: torch.Tensor | None = None, negligible: float = NEGLIGIBLE_CHANGE
) -> pd.DataFrame:
    """Per update: L2 norm, mean, standard deviation, excess kurtosis, largest magnitude and sparsity.

    Args:
        updates: stacked updates, shape ``(n, parameters)``.
        mask: describe only these parameters (e.g. :func:`fedutils.models.weight_mask`); ``None`` uses all.
        negligible: values with ``|δ| ≤ negligible`` count towards ``sparsity``.

    Returns:
        One row per update. Excess kurtosis is 0 for a Gaussian; a boosted,
        sparse update has heavy tails and a large value. Sparsity is the
        fraction of parameters left (nearly) unchanged.
    """
    if updates.dim() != 2:
        raise ValueError(f"updates must have shape (n, parameters), got {tuple(updates.shape)}")
    values = updates[:, mask.to(updates.device)] if mask is not None else updates
    values = values.double()
    mean = values.mean(dim=1, keepdim=True)
    centred = values - mean
    variance = centred.square().mean(dim=1)
    kurtosis = centred.pow(4).mean(dim=1) / variance.square() - 3.0
    return pd.DataFrame(
        {
            "norm": values.norm(dim=1).cpu().numpy(),
            "mean": mean.squeeze(1).cpu().numpy(),
            "std": variance.sqrt().cpu().numpy(),
            "kurtosis": kurtosis.cpu().numpy(),
            "max_abs": values.abs().max(dim=1).values.cpu().numpy(),
            "sparsity": (values.abs() <= negligible).double().mean(dim=1).cpu().numpy(),
        }
    )
