"""Splitting the training set: the paper's IID shards and Dirichlet shards."""

from __future__ import annotations

import numpy as np
import pytest

from fedutils.data.partition import class_counts, dirichlet_shards, iid_shards, paper_permutation
from fedutils.errors import ConfigError


def test_paper_permutation_is_numpy_legacy_choice_with_seed_777():
    expected = np.random.RandomState(777).choice(60_000, 60_000, replace=False)
    permutation = paper_permutation(60_000)
    assert np.array_equal(permutation, expected)
    assert np.array_equal(np.sort(permutation), np.arange(60_000))


def test_paper_shards_are_equal_disjoint_and_iid(fmnist):
    labels = fmnist.train.y.numpy()
    shards = iid_shards(60_000, 10)
    assert [len(s) for s in shards] == [6000] * 10
    assert len(np.unique(np.concatenate(shards))) == 60_000
    counts = class_counts(labels, shards, 10)
    # SPEC §2.1 (derived): with seed 777 every shard holds 534-648 examples of each class.
    assert counts.min() == 534 and counts.max() == 648


def test_uneven_split_drops_the_remainder():
    shards = iid_shards(10, 3, seed=0)
    assert [len(s) for s in shards] == [3, 3, 3]
    assert len(np.unique(np.concatenate(shards))) == 9


@pytest.mark.parametrize("num_agents", [0, 11])
def test_number_of_agents_is_checked(num_agents):
    with pytest.raises(ConfigError, match="number of agents"):
        iid_shards(10, num_agents)


def test_dirichlet_shards_are_disjoint_deterministic_and_skewed_for_small_alpha(fmnist):
    labels = fmnist.train.y.numpy()
    skewed = dirichlet_shards(labels, 10, alpha=0.1, seed=1, min_samples=50)
    again = dirichlet_shards(labels, 10, alpha=0.1, seed=1, min_samples=50)
    assert all(np.array_equal(a, b) for a, b in zip(skewed, again, strict=True))
    assert len(np.unique(np.concatenate(skewed))) == sum(len(s) for s in skewed) == 60_000
    assert min(len(s) for s in skewed) >= 50
    flat = dirichlet_shards(labels, 10, alpha=100.0, seed=1)

    def top_class_share(shards):
        counts = class_counts(labels, shards, 10)
        return (counts.max(1) / counts.sum(1)).mean()

    assert top_class_share(skewed) > 0.5 > 0.15 > top_class_share(flat)


def test_dirichlet_rejects_impossible_minimum():
    labels = np.repeat(np.arange(2), 5)
    with pytest.raises(ConfigError, match="dirichlet_alpha"):
        dirichlet_shards(labels, 5, alpha=0.01, seed=0, min_samples=3)
    with pytest.raises(ConfigError, match="positive"):
        dirichlet_shards(labels, 5, alpha=0.0)
