"""The auxiliary target set: the inputs the adversary wants misclassified.

The paper's objective (Bhagoji et al. 2019, §2) is that the global model
classifies r chosen inputs x_l as chosen classes τ_l. Targets are test-set
examples (the authors drew them from the test set, SPEC §2.2); the default is
test index 5454, a sandal (class 5), to be classified as a sneaker (class 7).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedutils.data.dataset import LabelledData
from fedutils.errors import ConfigError


@dataclass(frozen=True)
class Target:
    """One adversarial objective: test example ``index`` should be predicted as ``target_class``."""

    index: int
    target_class: int

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse ``"INDEX:CLASS"``, e.g. ``"5454:7"``."""
        index, sep, target_class = text.partition(":")
        try:
            if not sep:
                raise ValueError
            return cls(int(index), int(target_class))
        except ValueError:
            raise ConfigError(f"target must look like INDEX:CLASS (e.g. 5454:7), got {text!r}.") from None

    def __str__(self) -> str:
        return f"{self.index}:{self.target_class}"


PAPER_TARGET = Target(index=5454, target_class=7)


@dataclass(frozen=True)
class TargetSet:
    """The r target examples with their true and adversarial labels.

    Attributes:
        targets: the objectives, in order.
        x: the r inputs, stacked like the split they come from.
        true_classes: their true labels, shape ``(r,)``.
        target_classes: the labels the adversary wants, shape ``(r,)``.
    """

    targets: tuple[Target, ...]
    x: torch.Tensor
    true_classes: torch.Tensor
    target_classes: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)

    @functools.cached_property
    def true_class_list(self) -> list[int]:
        """The true labels as Python integers, read from the device once (not once per evaluated model)."""
        return self.true_classes.tolist()

    def to(self, device: torch.device | str) -> TargetSet:
        return TargetSet(self.targets, self.x.to(device), self.true_classes.to(device), self.target_classes.to(device))


def make_target_set(test: LabelledData, targets: Sequence[Target], class_names: Sequence[str]) -> TargetSet:
    """Gather the target examples from the test split.

    Raises:
        ConfigError: an index is outside the test set, a class is unknown, or a
            target class equals the example's true class.
    """
    if not targets:
        raise ConfigError("targets must contain at least one INDEX:CLASS pair.")
    for target in targets:
        check_target(target, len(test), len(class_names))
        true_class = int(test.y[target.index])
        if true_class == target.target_class:
            raise ConfigError(
                f"target class for test index {target.index} must differ from its true class "
                f"{true_class} ({class_names[true_class]})."
            )
    indices = torch.tensor([t.index for t in targets])
    return TargetSet(
        targets=tuple(targets),
        x=test.x[indices].clone(),
        true_classes=test.y[indices].clone(),
        target_classes=torch.tensor([t.target_class for t in targets]),
    )


def check_target(target: Target, test_size: int, num_classes: int) -> None:
    """Raise :class:`ConfigError` unless the index is in the test set and the class exists."""
    if not 0 <= target.index < test_size:
        raise ConfigError(f"target index {target.index} is outside the test set; allowed: 0 to {test_size - 1}.")
    if not 0 <= target.target_class < num_classes:
        raise ConfigError(f"target class {target.target_class} is not a class; allowed: 0 to {num_classes - 1}.")


def draw_paper_targets(
    test_labels: np.ndarray,
    count: int = 1,
    *,
    num_classes: int = 10,
    train_size: int = 60_000,
    seed: int = 777,
) -> list[Target]:
    """Redraw the targets the authors' code generates when no target file exists.

    Their global NumPy stream, seeded with 777, first permutes the training
    set, then draws the test index (or ``count`` indices, with replacement)
    and then, for each, a target class uniformly among the other classes
    (SPEC §2.2). For one target this gives test index 5454, 5 → 7.
    """
    rng = np.random.RandomState(seed)
    rng.choice(train_size, train_size, replace=False)  # the shard permutation comes first
    test_size = len(test_labels)
    indices = [int(rng.choice(test_size))] if count == 1 else [int(i) for i in rng.choice(test_size, count)]
    targets = []
    for index in indices:
        others = [c for c in range(num_classes) if c != int(test_labels[index])]
        targets.append(Target(index, others[int(rng.choice(num_classes - 1))]))
    return targets
