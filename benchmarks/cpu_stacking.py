"""Whether the parallel executor should stack a thread's agents: one round's local training on a CPU, per network.

For each network, the k = 10 honest agents of one round (the paper's IID
shards cut to ``--samples`` images, B = 50, E = ``--epochs``) compute their
updates three ways, in one process:

1. ``sequential``: one agent after another, torch's own intra-op threads;
2. ``parallel, stacked``: the agents dealt to the cores, each thread's agents
   trained as one stacked model (:mod:`fedutils.batched`);
3. ``parallel, one at a time``: the same threads, each training its agents
   one after another.

Only the training is timed: evaluation does not depend on the choice, and
for model A it would dwarf the training. The pick of ``executor = "auto"``
(:data:`fedutils.execution.CPU_STACKING_LIMIT`) is marked. It prints seconds
(median of ``--repeats`` after one warm-up) and the ratio to sequential.
Timings on a shared machine are noisy: compare ratios from one run.

Usage: python benchmarks/cpu_stacking.py [--models fast_cnn model_a] [--samples 300] [--epochs 1] [--repeats 1]
"""

from __future__ import annotations

import argparse

import torch
from executors import PARALLEL_VARIANTS, median_seconds  # this folder is on the path when a benchmark runs as a script

from fedutils.models import ModelName
from fedutils.presets import preset
from fedutils.run_options import DataSource
from fedutils.simulation.batched import StackedNetwork
from fedutils.simulation.execution import Executor, ParallelExecutor, SequentialExecutor
from fedutils.simulation.setup import build_agents, initial_parameters, prepare

STACKED, ONE_AT_A_TIME = PARALLEL_VARIANTS  # the labels: every thread's agents stacked, or none


def measure(model: str, args: argparse.Namespace) -> dict[str, float]:
    """Seconds of one round's local training for each way, and whether ``auto`` stacks this network."""
    config = preset("fast", model=model, samples_per_agent=args.samples, local_epochs=args.epochs, max_rounds=1)
    setup = prepare(config, DataSource(download=False))
    agents = build_agents(setup, torch.device("cpu"))
    start = initial_parameters(config, setup.dataset.num_classes)
    executors: dict[str, Executor] = {"sequential": SequentialExecutor()}
    executors |= {label: ParallelExecutor(stacking_limit=limit) for label, limit in PARALLEL_VARIANTS.items()}

    def training(executor: Executor) -> None:
        with executor.running():
            executor.updates(agents, start, 1)

    figures = {
        name: median_seconds(lambda e=e: training(e), args.repeats, start.device)[1] for name, e in executors.items()
    }
    network = StackedNetwork(agents[0].model, tuple(setup.dataset.train.x.shape[1:]))
    figures["auto stacks"] = ParallelExecutor().stacks(network)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=[ModelName.FAST_CNN.value, ModelName.MODEL_A.value])
    parser.add_argument("--samples", type=int, default=300, help="images per agent (default 300)")
    parser.add_argument("--epochs", type=float, default=1, help="local epochs E (default 1; the paper: 5)")
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds after the warm-up (default 1)")
    args = parser.parse_args()
    print(f"CPU, {torch.get_num_threads()} threads; k = 10, B = 50, E = {args.epochs}, {args.samples} images per agent")
    for model in args.models:
        figures = measure(model, args)
        auto = STACKED if figures.pop("auto stacks") else ONE_AT_A_TIME
        sequential = figures["sequential"]
        print(f"\n{model}")
        for name, seconds in figures.items():
            label = f"{name} (auto)" if name == auto else name
            print(f"  {label:<32} {seconds:7.2f} s  {sequential / seconds:5.2f}x sequential")


if __name__ == "__main__":
    main()
