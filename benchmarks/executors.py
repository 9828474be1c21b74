"""A FedAvg round computed one agent at a time and with the honest agents stacked, on whichever device is here.

For each network (default: the ``fast`` preset's and model A, the paper's),
one round of k = 10 agents on the paper's IID shards (B = 50, E epochs), as
:func:`~fedutils.federation.run_federation` records it: the updates, FedAvg,
the evaluation of the new global model and of every w_G + δ_i on the 10,000
test images. Timed these ways, in one process:

1. ``before``: the round as fedutils computed it before the execution layer
   (each agent's ``compute_update``, then each candidate evaluated alone):
   the reference for "nothing got slower";
2. ``sequential``: :class:`~fedutils.execution.SequentialExecutor`;
3. ``parallel, stacked`` and ``parallel, one at a time`` (on a CPU):
   :class:`~fedutils.execution.ParallelExecutor`, the agents spread over the
   cores, evaluations too, each thread's agents trained as one stacked model
   or one after another (``auto`` picks by the network's size,
   :data:`~fedutils.execution.CPU_STACKING_LIMIT`; the table marks its pick);
4. ``batched``: :class:`~fedutils.execution.BatchedExecutor` and stacked evaluation;
5. ``batched + compile`` (only with ``--compile``): the stacked loss under
   ``torch.compile(mode="reduce-overhead")`` (CUDA graphs on a GPU),
   compile time reported apart (the first call).

It prints seconds per round (median of ``--repeats`` after one warm-up), the
ratios against ``before`` and of ``sequential`` over ``batched``, and on CUDA
the peak memory of the stacked round. Timings on a shared machine are noisy:
compare ratios from one run.

On a CPU it then measures how near the hardware the honest agents' local
training runs (the round's updates alone, no evaluation, on the executor
``auto`` picks): its arithmetic, counted as three times the forward pass's
multiply-adds (2 FLOP each: the forward pass, and the backward pass's two
products per layer; the ``fast`` CNN: 0.45 MFLOP forward, 1.34 MFLOP per
training image), over the machine's float32 FMA peak measured in the same run
as the best rate of a large matrix product (4,096², on every core).

Usage: python benchmarks/executors.py [--models fast_cnn model_a] [--epochs 1] [--samples 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from fedutils.aggregators import fedavg
from fedutils.models import INPUT_SHAPES, ModelName, build_model
from fedutils.parallel import ThreadTeam
from fedutils.presets import preset
from fedutils.run_options import DataSource
from fedutils.simulation.evaluator import Evaluator
from fedutils.simulation.execution import (
    BatchedExecutor,
    Executor,
    ParallelExecutor,
    SequentialExecutor,
    build_executor,
)
from fedutils.simulation.federation import run_federation
from fedutils.simulation.layerwise import trace_layers
from fedutils.simulation.setup import build_agents, initial_parameters, prepare


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(work: Callable[[], None], repeats: int, device: torch.device) -> tuple[float, float]:
    """(first call, median of the next ``repeats``) in seconds."""
    timings = []
    for _ in range(repeats + 1):
        synchronise(device)
        started = time.perf_counter()
        work()
        synchronise(device)
        timings.append(time.perf_counter() - started)
    return timings[0], statistics.median(timings[1:])


def measure(model: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    config = preset("fast", model=model, local_epochs=args.epochs, max_rounds=1, stop_accuracy=None)
    config = config.replace(samples_per_agent=args.samples)
    setup = prepare(config, DataSource(download=False))
    start = initial_parameters(config, setup.dataset.num_classes).to(device)
    weights = torch.full((config.num_agents,), config.aggregation_weight, device=device)

    def evaluator(stacked: bool, team: ThreadTeam | None = None) -> Evaluator:
        network = build_model(config.model).to(device)
        return Evaluator(network, setup.validation.to(device), setup.targets.to(device), stacked=stacked, team=team)

    agents = build_agents(setup, device)
    one_by_one, stacked = evaluator(False), evaluator(True)
    parallel = ParallelExecutor()
    shared = evaluator(False, parallel.team)

    def before() -> None:
        updates = torch.stack([agent.compute_update(start, 1) for agent in agents])
        for update in updates:
            one_by_one.evaluate(start + update)
        one_by_one.evaluate(start + fedavg(updates, weights).step)

    def with_executor(executor: Executor, evaluation: Evaluator) -> Callable[[], None]:
        return lambda: run_federation(config, agents, evaluation, start, executor=executor, progress=False)

    batched = BatchedExecutor()
    workloads: dict[str, Callable[[], None]] = {
        "before": before,
        "sequential": with_executor(SequentialExecutor(), one_by_one),
    }
    if device.type == "cpu":
        for label, limit in PARALLEL_VARIANTS.items():
            workloads[label] = parallel_round(ParallelExecutor(stacking_limit=limit), shared, with_executor)
    workloads["batched"] = with_executor(batched, stacked)
    if args.compile:
        compiled = BatchedExecutor()
        network = compiled._networks.get(agents[0])
        network._stacked_loss = torch.compile(network._stacked_loss, mode="reduce-overhead")
        workloads["batched + compile"] = with_executor(compiled, stacked)

    figures: dict[str, float] = {"auto stacks": parallel.stacks(batched._networks.get(agents[0]))}
    for name, work in workloads.items():
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        first, median = median_seconds(work, args.repeats, device)
        figures[f"{name} s/round"] = median
        figures[f"{name} first call s"] = first
        if device.type == "cuda":
            figures[f"{name} peak GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
    return figures


PEAK_SIZE = 4096
"""The side of the square float32 matrix product whose rate stands for the cores' FMA peak."""


def fma_peak_gflops(device: torch.device, repeats: int = 5) -> float:
    """The best rate (GFLOP/s) of a ``PEAK_SIZE``² float32 matrix product here, on every core (the FMA peak
    as a BLAS reaches it; a hand-written kernel could come a few per cent closer to the data sheet's)."""
    a = torch.randn(PEAK_SIZE, PEAK_SIZE, device=device)
    b = torch.randn(PEAK_SIZE, PEAK_SIZE, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        synchronise(device)
        started = time.perf_counter()
        a @ b
        synchronise(device)
        best = min(best, time.perf_counter() - started)
    return 2 * PEAK_SIZE**3 / best / 1e9


def training_flops_per_image(model: torch.nn.Module, input_shape: tuple[int, ...]) -> float:
    """Three times one example's forward multiply-adds, at 2 FLOP each (convolutions and dense layers only)."""
    macs = 0
    for call in trace_layers(model, input_shape):
        if isinstance(call.module, torch.nn.Conv2d):
            conv = call.module
            macs += math.prod(call.example_shape) * conv.in_channels // conv.groups * math.prod(conv.kernel_size)
        elif isinstance(call.module, torch.nn.Linear):
            macs += call.module.in_features * call.module.out_features
    return 3 * 2 * macs


def training_throughput(model: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """The honest agents' local training of one round (the updates, nothing else) on the executor ``auto``
    picks: seconds, images per second and GFLOP/s (see the module docstring)."""
    config = preset("fast", model=model, local_epochs=args.epochs, max_rounds=1, stop_accuracy=None)
    config = config.replace(samples_per_agent=args.samples)
    setup = prepare(config, DataSource(download=False))
    start = initial_parameters(config, setup.dataset.num_classes).to(device)
    agents = build_agents(setup, device)
    executor = build_executor("auto", device)
    with executor.running():
        _, seconds = median_seconds(lambda: executor.updates(agents, start, 1), args.repeats, device)
    images = sum(agent.num_steps for agent in agents) * config.batch_size
    flops = training_flops_per_image(build_model(config.model), INPUT_SHAPES[config.model])
    return {
        "training s": seconds,
        "images/s": images / seconds,
        "MFLOP per image": flops / 1e6,
        "GFLOP/s": images * flops / seconds / 1e9,
    }


PARALLEL_VARIANTS = {"parallel, stacked": sys.maxsize, "parallel, one at a time": 0}
"""The parallel executor with every thread's agents stacked, and with none stacked (its stacking limit)."""


def parallel_round(
    executor: ParallelExecutor,
    evaluation: Evaluator,
    with_executor: Callable[[Executor, Evaluator], Callable[[], None]],
) -> Callable[[], None]:
    """A round on the parallel executor, inside its one-intra-op-thread setting as a run has it."""
    run = with_executor(executor, evaluation)

    def round_() -> None:
        with executor.running():
            run()

    return round_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=[ModelName.FAST_CNN.value, ModelName.MODEL_A.value])
    parser.add_argument("--epochs", type=float, default=1, help="local epochs E (default 1; the paper: 5)")
    parser.add_argument("--samples", type=int, help="images per agent (default: the whole 6,000-image shard)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="also time the stacked loss under torch.compile")
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH as JSON")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; k = 10, B = 50, E = {args.epochs}, images per agent: {args.samples or 'all'}")
    results = {}
    for model in args.models:
        figures = measure(model, args, device)
        results[model] = figures
        before, sequential = figures["before s/round"], figures["sequential s/round"]
        print(f"\n{model}")
        print(f"  {'execution':<30} {'s/round':>8} {'first call':>11} {'vs before':>10} {'vs sequential':>14}")
        auto = "parallel, stacked" if figures["auto stacks"] else "parallel, one at a time"
        for label in ("before", "sequential", *PARALLEL_VARIANTS, "batched", "batched + compile"):
            if f"{label} s/round" not in figures:
                continue
            seconds = figures[f"{label} s/round"]
            shown = f"{label} (auto)" if label == auto and device.type == "cpu" else label
            print(
                f"  {shown:<30} {seconds:8.2f} {figures[f'{label} first call s']:11.2f} "
                f"{before / seconds:9.2f}x {sequential / seconds:13.2f}x"
            )
        if "batched peak GiB" in figures:
            print(f"  peak GPU memory of the stacked round: {figures['batched peak GiB']:.2f} GiB")
        if device.type == "cpu":
            peak = fma_peak_gflops(device)
            training = training_throughput(model, args, device)
            figures.update(training, **{"FMA peak GFLOP/s": peak, "fraction of peak": training["GFLOP/s"] / peak})
            print(
                f"  local training alone (auto): {training['training s']:.2f} s, {training['images/s']:,.0f} images/s"
                f" × {training['MFLOP per image']:.2f} MFLOP = {training['GFLOP/s']:.1f} GFLOP/s;"
                f" FMA peak here {peak:.0f} GFLOP/s ({PEAK_SIZE}² matrix product):"
                f" {100 * figures['fraction of peak']:.1f} % of it"
            )
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
