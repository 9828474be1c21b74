"""The same FedAvg workload through fedutils' simulator and through Flower's simulation engine, in one run.

Two scales (the issue's):

* ``classroom`` — the ``fast`` preset: 10 agents × 6,000 Fashion-MNIST images,
  the fast CNN, E = 5, B = 50;
* ``paper`` — the paper's network, model A, on the same 10 × 6,000 images with E = 1.

Each runs ``--rounds`` FedAvg rounds (no attack, every agent's update also
evaluated, as the presets do) three ways:

1. ``fedutils``: the simulator's fastest CPU path (``executor="auto"``: the
   honest agents spread over the cores, one thread each);
2. ``flower, N cpu/client`` for each N of ``--client-cpus``: Flower's
   simulation engine (Ray), one virtual node per agent, each a Flower client
   computing its agent's update with fedutils' training
   (:mod:`fedutils.flower`); Ray runs cores/N clients at a time.

It prints, per way, the wall time of the whole run (start-up included: data,
Ray, actors), the steady round (the last round's seconds as the server
recorded them) and the ratio of Flower's best over fedutils, so that a ratio
above 1 means fedutils is faster. Timings on a shared machine are noisy:
compare ratios from one run.

Usage: python benchmarks/flower.py [--scales classroom paper] [--rounds 2] [--client-cpus 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from fedutils import preset, run_experiment
from fedutils.config import ExperimentConfig
from fedutils.flower.simulation import run_on_flower
from fedutils.models import ModelName
from fedutils.parallel import available_cores
from fedutils.results import RunResult

SCALES = {
    "classroom": {"preset": "fast"},
    "paper": {"preset": "fast", "model": ModelName.MODEL_A, "local_epochs": 1.0},
}
"""Each scale's configuration: a preset and what changes (the issue's workloads)."""


def workload(scale: str, rounds: int) -> ExperimentConfig:
    changes = dict(SCALES[scale])
    name = changes.pop("preset")
    return preset(name, max_rounds=rounds, stop_accuracy=None, **changes)


def timed(run: Callable[[], RunResult]) -> tuple[RunResult, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def measure(scale: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    config = workload(scale, args.rounds)
    ways = {"fedutils": lambda: run_experiment(config, cache=False, progress=False, download=False)}
    for cpus in args.client_cpus:
        ways[f"flower, {cpus} cpu/client"] = lambda cpus=cpus: run_on_flower(
            config, download=False, client_cpus=cpus, progress=False
        )
    figures = {}
    for way, run in ways.items():
        result, wall = timed(run)
        figures[way] = {
            "wall s": wall,
            "steady round s": result.records[-1].seconds,
            "final accuracy": result.final_accuracy,
        }
        print(
            f"  {way:<22} {wall:8.1f} {figures[way]['steady round s']:14.1f} {result.final_accuracy:9.4f}", flush=True
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", choices=list(SCALES), default=list(SCALES))
    parser.add_argument("--rounds", type=int, default=2, help="FedAvg rounds per run (default 2; the last is timed)")
    parser.add_argument(
        "--client-cpus", type=int, nargs="+", default=[1, 2], help="Flower: CPU cores per client (default: 1 2)"
    )
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH as JSON")
    args = parser.parse_args()
    print(f"{available_cores()} CPU cores; k = 10 agents × 6,000 images, B = 50, {args.rounds} rounds per run")
    results = {}
    for scale in args.scales:
        print(f"\n{scale} scale")
        print(f"  {'way':<22} {'wall s':>8} {'steady round s':>14} {'accuracy':>9}")
        figures = measure(scale, args)
        ours = figures["fedutils"]
        flower = [way for way in figures if way != "fedutils"]
        best_wall = min(flower, key=lambda way: figures[way]["wall s"])
        best_round = min(flower, key=lambda way: figures[way]["steady round s"])
        ratios = {
            "wall: Flower's best / fedutils": figures[best_wall]["wall s"] / ours["wall s"],
            "round: Flower's best / fedutils": figures[best_round]["steady round s"] / ours["steady round s"],
        }
        for label, ratio in ratios.items():
            print(f"  {label:<34} {ratio:5.2f}x")
        results[scale] = {"figures": figures, "ratios": ratios}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
