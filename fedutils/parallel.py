"""Running torch work in a few threads at once, each with one intra-op thread.

The small networks of the book cannot use two CPU cores within one
operation (a step of the ``fast`` network is no faster on two threads than on
one), but two agents training at the same time can, each on its own core.
Python threads do that well here: torch releases the GIL while an operation
runs. Each thread must then use one intra-op thread itself, or the threads'
OpenMP teams oversubscribe the cores and spin waiting for each other — the
cause of a process slowing down tenfold beside a second one.

Only code that draws no random numbers from torch's global generator may run
in these threads (:class:`~fedutils.simulation.batched.StackedNetwork` draws from its own
generators); :func:`~fedutils.seeding.torch_seeded` is for the calling thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ClassVar, TypeVar

import torch

T = TypeVar("T")


def available_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """Inside the block, the calling thread's torch operations use one thread; the setting is restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class ThreadTeam:
    """``size`` persistent threads that run torch work with one intra-op thread each.

    Args:
        size: how many pieces of work run at once (usually the number of cores).
    """

    _shared: ClassVar[dict[int, ThreadTeam]] = {}

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a thread team needs at least one thread, got {size}")
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="fedutils")

    @classmethod
    def shared(cls, size: int) -> ThreadTeam:
        """The process's team of ``size`` threads, made on first use and kept (as torch keeps its own thread pool)."""
        if size not in cls._shared:
            cls._shared[size] = cls(size)
        return cls._shared[size]

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Start ``work`` in one of the team's threads."""
        return self._pool.submit(_single_threaded, work)

    def map(self, work: Callable[[int], T]) -> list[T]:
        """``[work(0), …, work(size − 1)]``, computed at the same time."""
        futures = [self.submit(lambda i=i: work(i)) for i in range(self.size)]
        return [future.result() for future in futures]

    def close(self) -> None:
        """Stop the threads (work already submitted finishes first)."""
        self._pool.shutdown(wait=True)


def _single_threaded(work: Callable[[], T]) -> T:
    torch.set_num_threads(1)  # OpenMP's thread count is per calling thread: set it in this one
    return work()
