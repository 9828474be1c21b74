"""The pixel-pattern backdoor trigger: where it stamps, the attacker's poisoned set, the ASR test set, options."""

from __future__ import annotations

import json

import pytest
import torch

from fedutils.data.dataset import Dataset, LabelledData
from fedutils.data.trigger import Corner, Trigger, require_images
from fedutils.errors import ConfigError


def _images(n: int = 50, channels: int = 1, height: int = 12, width: int = 10, seed: int = 0) -> LabelledData:
    """Random images in [0, 0.5) (never the trigger's value 1), labels cycling through 0 … 4."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, channels, height, width, generator=g) * 0.5
    return LabelledData(x, torch.arange(n) % 5)


def _square_mask(trigger: Trigger, height: int, width: int) -> torch.Tensor:
    """An independent oracle: the square's pixels, from the corner and margin, pixel by pixel."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    for r in range(height):
        for c in range(width):
            from_top, from_bottom = r, height - 1 - r
            from_left, from_right = c, width - 1 - c
            vertical = from_top if trigger.corner in (Corner.TOP_LEFT, Corner.TOP_RIGHT) else from_bottom
            horizontal = from_left if trigger.corner in (Corner.TOP_LEFT, Corner.BOTTOM_LEFT) else from_right
            mask[r, c] = trigger.margin <= vertical < trigger.margin + trigger.size and (
                trigger.margin <= horizontal < trigger.margin + trigger.size
            )
    return mask


@pytest.mark.parametrize("corner", list(Corner))
@pytest.mark.parametrize(("size", "margin"), [(4, 1), (3, 0), (1, 2), (10, 0)])
def test_stamp_sets_the_square_in_every_channel_and_nothing_else(corner, size, margin):
    data = _images(channels=3)
    before = data.x.clone()
    trigger = Trigger(size=size, margin=margin, corner=corner, value=0.75)
    stamped = trigger.stamp(data.x)
    mask = _square_mask(trigger, 12, 10)
    assert int(mask.sum()) == size * size
    assert torch.equal(data.x, before)  # the input is untouched
    assert torch.all(stamped[:, :, mask] == 0.75)
    assert torch.equal(stamped[:, :, ~mask], before[:, :, ~mask])
    changed = (stamped != before).any(dim=(0, 1))
    assert torch.equal(changed, mask)


def test_the_default_square_is_rows_and_columns_23_to_26_of_a_28_pixel_image():
    rows, columns = Trigger().box(28, 28)
    assert (rows.start, rows.stop, columns.start, columns.stop) == (23, 27, 23, 27)
    assert Trigger(corner="top_left").box(28, 28) == (slice(1, 5), slice(1, 5))


def test_stamp_rejects_what_is_not_a_batch_of_images_or_too_small():
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\), got shape \(5, 104\)"):
        Trigger().stamp(torch.zeros(5, 104))
    with pytest.raises(ValueError, match="size 4 with margin 1 does not fit in 4 × 28 images"):
        Trigger().stamp(torch.zeros(2, 1, 4, 28))
    Trigger(size=3, margin=1).stamp(torch.zeros(2, 1, 4, 4))  # exactly fits


@pytest.mark.parametrize(("fraction", "expected"), [(0.0, 0), (0.001, 1), (0.3, 15), (0.31, 16), (0.5, 25), (1.0, 50)])
def test_poisoned_relabels_and_stamps_exactly_round_fraction_n_rows(fraction, expected):
    data = _images()
    before_x, before_y = data.x.clone(), data.y.clone()
    trigger = Trigger(target_class=7)  # not among the labels 0 … 4, so every poisoned row is visibly relabelled
    out = trigger.poisoned(data, fraction, torch.Generator().manual_seed(3))
    assert len(out) == len(data) and out.x.shape == data.x.shape
    assert torch.equal(data.x, before_x) and torch.equal(data.y, before_y)
    relabelled = out.y != data.y
    stamped = (out.x != data.x).flatten(1).any(dim=1)
    assert int(relabelled.sum()) == expected
    assert torch.equal(stamped, relabelled)  # only the relabelled rows are stamped
    assert torch.all(out.y[relabelled] == 7)
    assert torch.equal(out.x[relabelled], trigger.stamp(data.x[relabelled]))
    assert torch.equal(out.x[~relabelled], data.x[~relabelled]) and torch.equal(out.y[~relabelled], data.y[~relabelled])


def test_poisoned_rows_follow_the_generator():
    data = _images(n=200)
    trigger = Trigger(target_class=9)

    def rows(seed: int) -> torch.Tensor:
        return torch.nonzero(trigger.poisoned(data, 0.2, torch.Generator().manual_seed(seed)).y == 9).squeeze(1)

    assert torch.equal(rows(11), rows(11))
    assert not torch.equal(rows(11), rows(12))
    expected = torch.randperm(200, generator=torch.Generator().manual_seed(11))[:40].sort().values
    assert torch.equal(rows(11), expected)
    assert torch.equal(trigger.poisoned_rows(200, 0.2, torch.Generator().manual_seed(11)), expected)


def test_poisoned_rows_may_already_be_of_the_target_class():
    data = _images(n=20)
    out = Trigger(target_class=0).poisoned(data, 1.0, torch.Generator().manual_seed(0))
    assert torch.all(out.y == 0) and torch.equal(out.x, Trigger(target_class=0).stamp(data.x))


def test_poisoned_keeps_dtype_and_handles_float64():
    data = LabelledData(_images().x.double(), _images().y)
    out = Trigger().poisoned(data, 0.5, torch.Generator().manual_seed(0))
    assert out.x.dtype == torch.float64 and out.y.dtype == torch.int64


@pytest.mark.parametrize("fraction", [-0.1, 1.5, "half", True])
def test_poisoned_rejects_a_fraction_outside_0_1(fraction):
    with pytest.raises(ConfigError, match=r"^fraction .*must be a fraction between 0 and 1"):
        Trigger().poisoned(_images(), fraction, torch.Generator())


def test_attack_test_set_excludes_the_target_class_and_stamps_every_image():
    test = _images(n=40)
    trigger = Trigger(target_class=3)
    attack = trigger.attack_test_set(test)
    keep = test.y != 3
    assert len(attack) == int(keep.sum()) == 32
    assert torch.all(attack.y == 3) and attack.y.dtype == torch.int64
    assert torch.equal(attack.x, trigger.stamp(test.x[keep]))  # same order, every image stamped
    assert torch.all(attack.x[:, :, 7:11, 5:9] == 1.0)


def test_no_test_image_is_left_out_when_the_target_class_is_absent():
    test = _images(n=10)
    assert len(Trigger(target_class=8).attack_test_set(test)) == 10


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": 0}, "^size .*must be an integer of at least 1, got 0"),
        ({"size": 2.5}, "^size .*must be an integer of at least 1"),
        ({"value": 1.5}, "^value .*must be a fraction between 0 and 1, got 1.5"),
        ({"value": -0.1}, "^value .*must be a fraction between 0 and 1"),
        ({"margin": -1}, "^margin .*must be an integer ≥ 0"),
        ({"target_class": -1}, "^target_class .*must be an integer ≥ 0"),
        ({"corner": "middle"}, "^corner must be one of top_left, top_right, bottom_left, bottom_right"),
    ],
)
def test_bad_options_name_the_option_in_one_sentence(options, message):
    with pytest.raises(ConfigError, match=message) as error:
        Trigger(**options)
    assert str(error.value).endswith(".") and ". " not in str(error.value)


def test_options_are_normalised():
    trigger = Trigger(size=5.0, value=1, corner="top_right")
    assert trigger.size == 5 and isinstance(trigger.size, int)
    assert trigger.value == 1.0 and isinstance(trigger.value, float)
    assert trigger.corner is Corner.TOP_RIGHT


def test_to_dict_is_plain_json_and_round_trips():
    trigger = Trigger(target_class=6, size=5, value=0.9, corner=Corner.TOP_LEFT, margin=0)
    values = trigger.to_dict()
    assert values == {"target_class": 6, "size": 5, "value": 0.9, "corner": "top_left", "margin": 0}
    assert type(values["corner"]) is str
    assert Trigger.from_dict(json.loads(json.dumps(values))) == trigger
    assert Trigger.from_dict({}) == Trigger()
    with pytest.raises(ConfigError, match=r"^colour is not a trigger option; its options: target_class, size"):
        Trigger.from_dict({"colour": 1})


def _dataset(x: torch.Tensor, name: str) -> Dataset:
    split = LabelledData(x, torch.zeros(len(x), dtype=torch.int64))
    return Dataset(name, split, split, ("a", "b", "c"))


def test_check_dataset_needs_images_a_fitting_square_and_a_real_class():
    with pytest.raises(ConfigError, match=r"^a pixel trigger needs images \(Fashion-MNIST\); adult has rows of 104"):
        require_images(_dataset(torch.zeros(3, 104), "adult"))
    with pytest.raises(ConfigError, match="needs images"):
        Trigger().check_dataset(_dataset(torch.zeros(3, 104), "adult"))
    too_small = r"^size \+ margin must be at most 4 .* 4 × 6 images, got size 4 and margin 1"
    with pytest.raises(ConfigError, match=too_small):
        Trigger().check_dataset(_dataset(torch.zeros(3, 1, 4, 6), "tiny"))
    with pytest.raises(ConfigError, match=r"^target_class must be a class of toy \(0 to 2\), got 3"):
        Trigger(target_class=3).check_dataset(_dataset(torch.zeros(3, 1, 28, 28), "toy"))
    Trigger().check_dataset(_dataset(torch.zeros(3, 1, 28, 28), "toy"))


def test_meta_tensors_pass_through_stamp_and_poisoned():
    data = LabelledData(torch.empty(8, 1, 28, 28, device="meta"), torch.empty(8, dtype=torch.int64, device="meta"))
    out = Trigger().poisoned(data, 0.5, torch.Generator().manual_seed(0))
    assert out.x.device.type == "meta" and out.x.shape == data.x.shape and out.y.shape == (8,)


def test_the_default_trigger_sits_on_background_in_real_fashion_mnist(fmnist):
    """Fashion-MNIST's background is 0: the default square covers mostly background (about 82 % of its pixels
    below 0.1 on the test set), so stamping it with white changes the images visibly."""
    trigger = Trigger()
    assert fmnist.class_names[trigger.target_class] == "Pullover"
    trigger.check_dataset(fmnist)
    rows, columns = trigger.box(28, 28)
    square = fmnist.test.x[:, :, rows, columns]
    assert float((square < 0.1).float().mean()) > 0.75
    assert float(square.mean()) < 0.15
    attack = trigger.attack_test_set(fmnist.test)
    assert len(attack) == 9_000  # 1,000 pullovers left out
    change = (attack.x - fmnist.test.x[fmnist.test.y != 2]).abs()[:, :, rows, columns].mean()
    assert float(change) > 0.8
