"""Datasets, their split among agents, and the adversary's target set."""

from fedutils.data.dataset import Dataset, LabelledData
from fedutils.data.fashion_mnist import load_fashion_mnist
from fedutils.data.partition import class_counts, dirichlet_shards, iid_shards, paper_permutation
from fedutils.data.targets import PAPER_TARGET, Target, TargetSet, draw_paper_targets, make_target_set

__all__ = [
    "PAPER_TARGET",
    "Dataset",
    "LabelledData",
    "Target",
    "TargetSet",
    "class_counts",
    "dirichlet_shards",
    "draw_paper_targets",
    "iid_shards",
    "load_fashion_mnist",
    "make_target_set",
    "paper_permutation",
]
