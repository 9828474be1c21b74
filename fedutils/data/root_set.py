"""A server's root set (FLTrust, Cao, Fang, Liu & Gong, NDSS 2021, §3 and §5): a few clean examples it trains on.

FLTrust's server keeps a small clean dataset of its own — 100 examples in the
paper — and each round trains on it the way the clients train, to get an
update g_0 it trusts. The paper also asks what happens when the server's
data is not drawn like the clients': its *bias probability* p draws each root
example from one class with probability p and from the other classes
uniformly otherwise, so p = 1/L (L classes) is unbiased and p → 1 is a root
set of one class.
"""

from __future__ import annotations

import numpy as np

from fedutils.errors import ConfigError


def root_set_indices(
    labels: np.ndarray, size: int, rng: np.random.Generator, *, bias: float | None = None, bias_class: int = 0
) -> np.ndarray:
    """Indices of ``size`` distinct examples among ``labels`` (the server's data), sorted.

    Args:
        labels: the class of each example the server holds.
        size: the root set's size.
        rng: the draw's generator.
        bias: ``None`` draws uniformly from the server's data; a probability p draws each example's class as
            ``bias_class`` with probability p, else one of the other classes uniformly (the paper's bias
            probability), then an unused example of that class.
        bias_class: the class the bias favours.

    Raises:
        ConfigError: the server holds fewer examples than asked, or too few of a class the draw needs.
    """
    if size > len(labels):
        raise ConfigError(f"root_samples = {size} is more than the {len(labels)} examples the server holds.")
    if bias is None:
        return np.sort(rng.choice(len(labels), size, replace=False))
    classes = np.unique(labels)
    if bias_class not in classes:
        raise ConfigError(f"root_bias_class must be one of the classes {classes.tolist()}, got {bias_class}.")
    others = classes[classes != bias_class]
    pools = {int(c): list(rng.permutation(np.flatnonzero(labels == c))) for c in classes}
    chosen = []
    for _ in range(size):
        label = bias_class if rng.random() < bias or not len(others) else int(rng.choice(others))
        if not pools[label]:
            raise ConfigError(
                f"root_bias = {bias} needs more examples of class {label} than the server's {len(labels)} hold; "
                "lower root_samples or root_bias."
            )
        chosen.append(pools[label].pop())
    return np.sort(np.asarray(chosen, dtype=np.int64))
