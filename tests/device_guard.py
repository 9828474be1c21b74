"""A CPU stand-in for a GPU: run fedutils with its tensors on PyTorch's ``meta`` device and watch every op.

On a GPU two kinds of slip cost (or break) a run without failing any CPU test:

* an op that mixes a device tensor with a CPU tensor of more than one element
  (a CPU index tensor used on device data: torch copies it over every step, and
  on some paths refuses it);
* a host sync in a hot loop: ``.item()``, ``float(t)``, ``.tolist()``,
  ``.cpu()``, ``nonzero``, boolean-mask indexing — the host waits for the device
  to finish everything queued.

:class:`DeviceGuard` is a ``TorchDispatchMode`` that sees every op. With the
data and the models on ``meta`` (shapes without values), it records each
mixing op as a violation, and each sync as a violation unless the innermost
fedutils function that asked for it is in :data:`ALLOWED_SYNCS`, which names
every sync an algorithm needs and why. A sync cannot run on ``meta``, so the
guard answers it with a stand-in of the right type and shape (zeros, or every
entry selected) and the run goes on: the numbers are meaningless, the paths
are the real ones.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from fedutils import parallel

aten = torch.ops.aten

META = torch.device("meta")

ALLOWED_SYNCS: dict[str, str] = {
    # what a round records: read once a round (per model or per update), never per step
    "training.evaluation_from_logits": "the global model's accuracy and loss, once a round",
    "training.evaluations_from_logits": "every candidate's accuracy and loss, one read per round",
    "training.target_outcomes_from_logits": "the targets' probabilities, one read per evaluated model",
    "data.targets.true_class_list": "the targets' true labels, read once a run",
    "simulation.evaluator._evaluate_rows": "every candidate's target probabilities, one read per round",
    "simulation.federation._agent_records": "each update's norm for the records, one read per round",
    "simulation.federation._rule_reports": "what the rule did with each update, one read per round",
    "simulation.federation.run_federation": "the round's checks and filter, read once a round",
    "checks.distance.leave_one_out_ranges": "an update's four distance range ends, one read per update a round",
    # algorithms that decide on the host
    "attacks.explicit_boosting.craft": "the stopping rule reads the loss every loss_check_every steps",
    "aggregators.bulyan.bulyan": "Bulyan's θ selected updates become the rows of its trimmed mean",
    "aggregators.geometric_median.geometric_median": "Weiszfeld stops when the objective improves too little",
    "distances.pairwise_distances": "a rule's or check's weights-only columns of the round's updates, once a round",
    "aggregators.base.rows": "which agents a subset of the round's rows holds (FoolsGold's histories), per subset",
    "aggregators.centered_clipping.summary": "the centre's norm for the round's record, once a round",
    "aggregators.foolsgold.summary": "the largest history norm for the round's record, once a round",
    "aggregators.flame.flame_admitted": "HDBSCAN clusters the n × n cosine distances on the host, once a round",
    "attacks.min_max.search_gamma": "the γ search reads whether each γ is feasible, about 20 reads a round",
}
"""Innermost fedutils function (``module.function``, without ``fedutils.``) → why it may make the host wait."""

TRANSFERS = {aten._to_copy.default, aten.copy_.default, aten.lift_fresh.default, aten.detach.default}
"""Ops that move a tensor between devices on purpose (``.to(device)``): their mixing is the point."""

SYNC_OPS = {
    aten._local_scalar_dense.default,
    aten.nonzero.default,
    aten.masked_select.default,
    aten.equal.default,
    aten.is_nonzero.default,
}


@dataclass
class DeviceGuard(TorchDispatchMode):
    """Records every op mixing ``meta`` and CPU tensors, and every host sync outside :data:`ALLOWED_SYNCS`.

    Attributes:
        violations: one line per offence: the op, the tensors, and the fedutils function that made it.
        allowed: the allowed syncs that happened, by site.
    """

    violations: list[str] = field(default_factory=list)
    allowed: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    @contextlib.contextmanager
    def in_every_thread(self) -> Iterator[DeviceGuard]:
        """The guard in this thread and in the threads of fedutils' thread teams (a dispatch mode is per thread;
        the parallel executor trains and evaluates in a team)."""
        start = parallel._single_threaded

        def guarded(work):
            with self:
                return start(work)

        parallel._single_threaded = guarded
        try:
            with self:
                yield self
        finally:
            parallel._single_threaded = start

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [leaf for leaf in tree_leaves((args, kwargs)) if isinstance(leaf, torch.Tensor)]
        if not any(t.device == META for t in tensors):
            return func(*args, **kwargs)
        host = [t for t in tensors if t.device.type == "cpu" and t.dim() > 0]
        if host and func not in TRANSFERS:
            shapes = ", ".join(str(tuple(t.shape)) for t in host)
            self.violations.append(f"{func} mixes meta with CPU tensors {shapes} in {_site()}")
        if _is_sync(func, args, kwargs):
            site = _site()
            if site in ALLOWED_SYNCS:
                self.allowed[site] = self.allowed.get(site, 0) + 1
            else:
                self.violations.append(f"host sync {func} in {site}")
            return _stand_in(func, args, kwargs)
        return func(*args, **kwargs)


def _is_sync(func, args, kwargs) -> bool:
    if func in SYNC_OPS:
        return True
    if func in (aten._to_copy.default, aten.copy_.default):  # .cpu(), .tolist(), .numpy(): off the device
        source = args[1] if func is aten.copy_.default else args[0]
        target = args[0].device if func is aten.copy_.default else kwargs.get("device", source.device)
        return source.device == META and torch.device(target).type == "cpu"
    if func in (aten.index.Tensor, aten.index_put_.default, aten.index_put.default):
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1])
    return False


def _stand_in(func, args, kwargs) -> Any:
    """What a sync would have given, in type and shape: zeros, or every entry selected."""
    if func is aten._local_scalar_dense.default:
        return False if args[0].dtype == torch.bool else 0
    if func in (aten.equal.default, aten.is_nonzero.default):
        return False
    if func is aten.nonzero.default:
        return torch.ones(args[0].shape, dtype=torch.bool).nonzero().to(META)
    if func is aten.masked_select.default:
        values, mask = args
        return values.expand(torch.broadcast_shapes(values.shape, mask.shape)).reshape(-1)
    if func is aten._to_copy.default:
        dtype = kwargs.get("dtype") or args[0].dtype
        return torch.zeros(args[0].shape, dtype=dtype)
    if func is aten.copy_.default:
        return args[0].zero_()
    indices = [torch.ones(i.shape, dtype=torch.bool).nonzero(as_tuple=True) if _is_mask(i) else (i,) for i in args[1]]
    moved = [part.to(META) if isinstance(part, torch.Tensor) else part for group in indices for part in group]
    return func(args[0], moved, *args[2:], **kwargs)


def _is_mask(index: Any) -> bool:
    return isinstance(index, torch.Tensor) and index.dtype == torch.bool


def _site() -> str:
    """The innermost fedutils function on the stack, as ``module.function`` without ``fedutils.``."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("fedutils."):
            return f"{module.removeprefix('fedutils.')}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "outside fedutils"
