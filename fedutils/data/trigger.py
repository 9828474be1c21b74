"""A pixel-pattern backdoor trigger (BadNets-style): a bright square stamped on images, labelled as a target class.

The backdoor attacks that followed Bhagoji et al. — model replacement (Bagdasaryan et al., AISTATS 2020) and
Neurotoxin (Zhang et al., ICML 2022) — teach the global model a *trigger*: any image carrying a small pixel pattern
is to be classified as one fixed target class, while clean images keep their true labels. This module is the
data side only: the pattern (:class:`Trigger`), the attacker's poisoned training set
(:meth:`Trigger.poisoned`) and the test set the attack success rate is measured on
(:meth:`Trigger.attack_test_set`). The training and the update the attacker sends live with the attacks.

The trigger is a ``size × size`` square of constant ``value`` in every channel, ``margin`` pixels from the
borders at ``corner``. For the square at the bottom right with the defaults (4 × 4, margin 1) on a 28 × 28 image,
rows and columns 23 … 26 are set, leaving one row and one column of the image beyond them.

Defaults and where they come from:

* ``target_class = 2`` ("Pullover" in Fashion-MNIST): any class works — the attack is all-to-one; 2 is BackFed's
  fixed ``target_class`` (``config/atk_config/base_attack.yaml``); FLPoison's BadNets uses a fixed label too (6,
  ``attackers/badnets.py``).
* ``size = 4``: BackFed's default trigger for the MNIST family is a 4 × 4 square of ones
  (``backfed/poisons/pattern.py``); FLPoison uses 5 × 5 (``trigger_size 5``); the DBA reference uses four
  1 × 4 strips (``utils/mnist_params.yaml``), whose union is the global trigger.
* ``value = 1.0``: white, the brightest pixel of images scaled to [0, 1]; every peer stamps ones.
* ``corner = bottom_right``, ``margin = 1``: BackFed's ``location: "bottom_right"``, ``x_margin: 1``,
  ``y_margin: 1``. Differs on purpose: BackFed's bottom and right squares end ``margin + 1`` pixels from the
  border (an off-by-one in ``set_trigger_location``) while its top and left ones start ``margin`` pixels in; here
  every corner is exactly ``margin`` pixels from both borders it touches. FLPoison puts its square flush in the
  bottom-right corner (margin 0).

The square should fall on background for the trigger to be visible: on Fashion-MNIST's test images about 82 % of
the default square's pixels are below 0.1 before stamping (the top-left corner is emptier still, about 98 %).

Poisoned training set: the reference codes mix clean and backdoor examples in every batch (model replacement's
``poisoning_per_batch``, BackFed's ``poison_rate`` 0.3125 = 20 of 64, FLPoison's ``poisoning_ratio`` 0.32), so
:meth:`Trigger.poisoned` stamps and relabels a fixed ``fraction`` of the attacker's rows, in place, and keeps the
rest clean, in the same order. Rows are drawn from all classes, those already of the target class included (as the
references do: they replace the first rows of a batch whatever their label).

Attack success rate (ASR): the accuracy on :meth:`Trigger.attack_test_set`, every test image whose true label is
not the target class, stamped and labelled with the target class — images already of the target class are left
out, as FLDetector's ``evaluate_backdoor`` does (the landscape note, §5 "ASR definition").

Tabular data: a pixel trigger needs images; :func:`require_images` (called by :meth:`Trigger.check_dataset`) says
so in one sentence when the dataset is Adult, and :meth:`Trigger.stamp` raises a ``ValueError`` on anything that is
not a 4-D batch of images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from fedutils.data.dataset import Dataset, LabelledData
from fedutils.errors import ConfigError
from fedutils.options import (
    Choice,
    normalise_fields,
    require_fraction,
    require_non_negative_int,
    require_positive_int,
)


class Corner(Choice):
    """The corner of the image the trigger's square sits in."""

    TOP_LEFT = "top_left"
    TOP_RIGHT = "top_right"
    BOTTOM_LEFT = "bottom_left"
    BOTTOM_RIGHT = "bottom_right"


def require_images(dataset: Dataset) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``dataset`` holds images, shape ``(N, C, H, W)``."""
    shape = tuple(dataset.train.x.shape[1:])
    if len(shape) != 3:
        what = f"rows of {shape[0]} features" if len(shape) == 1 else f"inputs of shape {shape}"
        raise ConfigError(f"a pixel trigger needs images (Fashion-MNIST); {dataset.name} has {what}.")


@dataclass(frozen=True)
class Trigger:
    """A square of ``size × size`` pixels set to ``value`` in every channel, ``margin`` pixels from the borders at
    ``corner``; stamped images are to be classified as ``target_class``.

    Attributes:
        target_class: the class every stamped image should be classified as (default 2, "Pullover"; BackFed's
            fixed target — any class works).
        size: the square's side in pixels (default 4, BackFed's MNIST trigger; FLPoison 5, DBA 1 × 4 strips).
        value: the pixel value the square is set to, in [0, 1] like the images (default 1.0, white).
        corner: where the square sits (default bottom right, BackFed's).
        margin: pixels between the square and the two borders it is nearest (default 1, BackFed's).
    """

    target_class: int = 2
    size: int = 4
    value: float = 1.0
    corner: Corner = Corner.BOTTOM_RIGHT
    margin: int = 1

    def __post_init__(self) -> None:
        normalise_fields(self)
        require_non_negative_int(self.target_class, "target_class (the backdoor's target class)")
        require_positive_int(self.size, "size (the trigger square's side in pixels)")
        require_fraction(self.value, "value (the trigger's pixel value; images are in [0, 1])")
        require_non_negative_int(self.margin, "margin (pixels between the trigger and the border)")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (the corner as its string), for an attack's options and a cache key."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Trigger:
        """The trigger :meth:`to_dict` wrote (missing options take their defaults).

        Raises:
            ConfigError: a key is not an option of the trigger, or a value is not allowed.
        """
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ConfigError(f"{', '.join(unknown)} is not a trigger option; its options: {', '.join(allowed)}.")
        return cls(**values)

    def box(self, height: int, width: int) -> tuple[slice, slice]:
        """The rows and columns of the square in a ``height × width`` image.

        Raises:
            ValueError: the square and its margin do not fit in the image.
        """
        if self.size + self.margin > min(height, width):
            raise ValueError(
                f"a trigger of size {self.size} with margin {self.margin} does not fit in {height} × {width} images."
            )
        top = self.corner in (Corner.TOP_LEFT, Corner.TOP_RIGHT)
        left = self.corner in (Corner.TOP_LEFT, Corner.BOTTOM_LEFT)
        row = self.margin if top else height - self.margin - self.size
        column = self.margin if left else width - self.margin - self.size
        return slice(row, row + self.size), slice(column, column + self.size)

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise a one-sentence :class:`ConfigError` unless the trigger applies to ``dataset``: it holds images,
        the square fits in them and ``target_class`` is one of its classes."""
        require_images(dataset)
        height, width = dataset.train.x.shape[-2:]
        if self.size + self.margin > min(height, width):
            raise ConfigError(
                f"size + margin must be at most {min(height, width)} to fit the trigger in {dataset.name}'s "
                f"{height} × {width} images, got size {self.size} and margin {self.margin}."
            )
        if self.target_class >= dataset.num_classes:
            raise ConfigError(
                f"target_class must be a class of {dataset.name} (0 to {dataset.num_classes - 1}), "
                f"got {self.target_class}."
            )

    def stamp(self, x: torch.Tensor) -> torch.Tensor:
        """A copy of the images ``x`` ``(N, C, H, W)`` with the square set to ``value`` in every channel.

        Raises:
            ValueError: ``x`` is not a 4-D batch of images, or the square does not fit in them.
        """
        if x.dim() != 4:
            raise ValueError(f"a pixel trigger stamps images of shape (N, C, H, W), got shape {tuple(x.shape)}.")
        rows, columns = self.box(x.shape[-2], x.shape[-1])
        stamped = x.clone()
        stamped[:, :, rows, columns] = self.value
        return stamped

    def poisoned_rows(self, n: int, fraction: float, generator: torch.Generator) -> torch.Tensor:
        """The sorted indices of the rows to poison among ``n``: round(fraction · n) of them (Python's ``round``,
        half to even), at least one when ``fraction > 0`` and ``n > 0``, drawn without replacement from a
        permutation on ``generator`` (on its device).

        Raises:
            ConfigError: ``fraction`` is not in [0, 1].
        """
        require_fraction(fraction, "fraction (the share of the attacker's rows to poison)")
        count = min(n, max(1, round(fraction * n))) if fraction > 0 and n > 0 else 0
        order = torch.randperm(n, generator=generator, device=generator.device)
        return order[:count].sort().values

    def poisoned(self, data: LabelledData, fraction: float, generator: torch.Generator) -> LabelledData:
        """The attacker's training set: ``data`` with the rows :meth:`poisoned_rows` draws stamped and labelled
        ``target_class``, the other rows clean; same size and order, on the data's device (``data`` is not
        modified).

        Raises:
            ConfigError: ``fraction`` is not in [0, 1].
            ValueError: ``data`` does not hold images the square fits in.
        """
        rows = self.poisoned_rows(len(data), fraction, generator).to(data.y.device)
        x = data.x.clone()
        x[rows] = self.stamp(data.x[rows])
        y = data.y.clone()
        y[rows] = self.target_class
        return LabelledData(x, y)

    def attack_test_set(self, test: LabelledData) -> LabelledData:
        """Every image of ``test`` whose true label is not ``target_class``, stamped and labelled ``target_class``,
        in their order, on the data's device: the attack success rate is the accuracy on this set.

        Selecting the rows waits for the device once (their number decides the result's shape), so build the set
        once per run, not per evaluation.

        Raises:
            ValueError: ``test`` does not hold images the square fits in.
        """
        rows = torch.nonzero(test.y != self.target_class).squeeze(1)
        x = self.stamp(test.x[rows])
        return LabelledData(x, torch.full_like(test.y[rows], self.target_class))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Choice) else value
