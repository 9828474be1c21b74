"""The adversary's target set."""

from __future__ import annotations

import pytest
import torch

from fedutils.data.targets import PAPER_TARGET, Target, draw_paper_targets, make_target_set
from fedutils.errors import ConfigError


def test_paper_target_is_redrawn_from_the_authors_rng(fmnist):
    """SPEC §2.2: seed 777, permutation, then choice(10000), then choice(9) gives test index 5454, 5 -> 7."""
    labels = fmnist.test.y.numpy()
    assert draw_paper_targets(labels, 1) == [PAPER_TARGET]
    assert int(labels[PAPER_TARGET.index]) == 5 and PAPER_TARGET.target_class == 7


def test_ten_paper_targets_match_the_spec(fmnist):
    targets = draw_paper_targets(fmnist.test.y.numpy(), 10)
    assert [t.index for t in targets] == [5454, 3846, 5645, 2720, 1989, 2144, 9368, 7140, 2727, 9581]
    assert [t.target_class for t in targets] == [0, 6, 9, 5, 1, 6, 7, 0, 5, 7]


def test_target_set_gathers_examples(fmnist):
    targets = make_target_set(fmnist.test, [PAPER_TARGET, Target(0, 3)], fmnist.class_names)
    assert len(targets) == 2
    assert torch.equal(targets.x[0], fmnist.test.x[5454])
    assert targets.true_classes.tolist() == [5, int(fmnist.test.y[0])]
    assert targets.target_classes.tolist() == [7, 3]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (Target(10_000, 7), "outside the test set; allowed: 0 to 9999"),
        (Target(-1, 7), "outside the test set"),
        (Target(5454, 10), "not a class; allowed: 0 to 9"),
        (Target(5454, 5), "must differ from its true class 5 \\(Sandal\\)"),
    ],
)
def test_bad_targets_are_rejected(fmnist, target, message):
    with pytest.raises(ConfigError, match=message):
        make_target_set(fmnist.test, [target], fmnist.class_names)


def test_parse():
    assert Target.parse("5454:7") == PAPER_TARGET
    assert str(PAPER_TARGET) == "5454:7"
    for bad in ["5454", "a:b", "5454:7:1", ""]:
        with pytest.raises(ConfigError, match="INDEX:CLASS"):
            Target.parse(bad)
