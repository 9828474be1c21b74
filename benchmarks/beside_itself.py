"""How a round slows down when a second copy of the same work runs beside it, per executor.

A student runs a chapter while something else computes. On two cores, two
processes that each keep two busy threads should each take about twice as
long as alone. Torch's default — as many OpenMP threads per process as there
are cores, which spin while they wait for each other — can make it much
worse. For each executor this script times the local training of one
``fast``-preset round (k = 10 agents, ``--epochs`` local epochs) alone, then
two copies started together, and prints both times and the slow-down factor.

Usage: python benchmarks/beside_itself.py [--executors sequential parallel] [--epochs 0.5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch

from fedutils.presets import preset
from fedutils.run_options import DataSource, ExecutorName
from fedutils.simulation.execution import build_executor
from fedutils.simulation.setup import build_agents, initial_parameters, prepare


def one_round(executor: str, epochs: float) -> float:
    """Seconds for the local training of one round (after a small warm-up)."""
    config = preset("fast", local_epochs=epochs)
    setup = prepare(config, DataSource(download=False))
    agents = build_agents(setup, torch.device("cpu"))
    start = initial_parameters(config, setup.dataset.num_classes)
    execution = build_executor(executor, torch.device("cpu"))
    with execution.running():
        execution.updates(agents[:2], start, 1)
        started = time.perf_counter()
        execution.updates(agents, start, 1)
    return time.perf_counter() - started


def timed_copies(executor: str, epochs: float, copies: int) -> list[float]:
    """Run ``copies`` processes of :func:`one_round` at once; their times."""
    command = [sys.executable, __file__, "--worker", executor, "--epochs", str(epochs)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    return [float(process.communicate()[0]) for process in processes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executors", nargs="+", default=[ExecutorName.SEQUENTIAL.value, ExecutorName.PARALLEL.value])
    parser.add_argument("--epochs", type=float, default=0.5, help="local epochs E of the timed round (default 0.5)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(one_round(args.worker, args.epochs))
        return
    print(f"one fast-preset round, k = 10, E = {args.epochs}, {torch.get_num_threads()} torch threads by default")
    print(f"{'executor':<12} {'alone s':>8} {'beside a copy s':>16} {'slow-down':>10}")
    for executor in args.executors:
        (alone,) = timed_copies(executor, args.epochs, 1)
        pair = timed_copies(executor, args.epochs, 2)
        beside = max(pair)
        print(f"{executor:<12} {alone:8.2f} {beside:16.2f} {beside / alone:9.1f}x")


if __name__ == "__main__":
    main()
