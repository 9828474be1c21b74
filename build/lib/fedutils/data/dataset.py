"""In-memory datasets: tensors of inputs and labels, nothing else.

All data used in the book fits in memory, so a split is two tensors and
batches are slices of them (no DataLoader, no per-sample Python objects).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LabelledData:
    """One split of a dataset.

    Attributes:
        x: inputs, ``float32``; images are ``(N, 1, H, W)`` scaled to [0, 1].
        y: class labels, ``int64`` of shape ``(N,)``.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray | torch.Tensor | slice) -> LabelledData:
        """The rows at ``indices``, copied into contiguous memory."""
        if isinstance(indices, np.ndarray):
            indices = torch.from_numpy(indices.astype(np.int64, copy=False))
        return LabelledData(self.x[indices].contiguous(), self.y[indices].contiguous())

    def to(self, device: torch.device | str) -> LabelledData:
        """The same split on another device (no copy if already there)."""
        return LabelledData(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class Dataset:
    """A train and a test split with the names of the classes.

    As in the paper, the test split doubles as the validation set
    (Bhagoji et al. 2019, §4: "validation accuracy" is test accuracy).
    """

    name: str
    train: LabelledData
    test: LabelledData
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
