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
   (:mod:`fedutils.flower`); Ray runs cores/N clients at a time;
3. ``plain Flower app, N cpu/client``: the same workload written as Flower's
   PyTorch quickstart writes it (``benchmarks/plain_flower_app.py``: a
   ``DataLoader``, Flower's own ``FedAvg`` strategy), so that fedutils is also
   measured against Flower used the usual way.

Every way evaluates the global model on the validation set after each round
and nothing else (``evaluate_agents=False``: the simulator's extra
evaluation of every w_G + δ_i is left out so the workloads are the same).

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
from typing import Any

from plain_flower_app import plain_flower_app  # benchmarks/, on the path when this script runs

from fedutils import preset, run_experiment
from fedutils.config import ExperimentConfig
from fedutils.flower.engine import run as run_on_flower
from fedutils.models import ModelName
from fedutils.parallel import available_cores
from fedutils.records import RunResult
from fedutils.run_options import DataSource, RunOptions

SCALES = {
    "classroom": {"preset": "fast"},
    "paper": {"preset": "fast", "model": ModelName.MODEL_A, "local_epochs": 1.0},
}
"""Each scale's configuration: a preset and what changes (the issue's workloads)."""


def workload(scale: str, rounds: int) -> ExperimentConfig:
    changes = dict(SCALES[scale])
    name = changes.pop("preset")
    return preset(name, max_rounds=rounds, stop_accuracy=None, evaluate_agents=False, **changes)


def timed(run: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def measure(scale: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    config = workload(scale, args.rounds)
    quiet = RunOptions(cache=False, progress=False, data=DataSource(download=False))
    ways = {"fedutils": lambda: run_experiment(config, quiet)}
    for cpus in args.client_cpus:
        ways[f"flower, {cpus} cpu/client"] = lambda cpus=cpus: run_on_flower(
            config, quiet.replace(engine="flower"), client_cpus=cpus
        )
    for cpus in args.client_cpus:
        ways[f"plain Flower app, {cpus} cpu/client"] = lambda cpus=cpus: plain_flower_app(config, cpus)
    figures = {}
    for way, run in ways.items():
        result, wall = timed(run)
        if isinstance(result, RunResult):
            steady, accuracy = result.records[-1].seconds, result.final_accuracy
        else:  # the plain app's round times and accuracy
            steady, accuracy = result[0][-1], result[1]
        figures[way] = {"wall s": wall, "steady round s": steady, "final accuracy": accuracy}
        print(f"  {way:<34} {wall:8.1f} {steady:14.1f} {accuracy:9.4f}", flush=True)
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
        print(f"  {'way':<34} {'wall s':>8} {'steady round s':>14} {'accuracy':>9}")
        figures = measure(scale, args)
        ours = figures["fedutils"]
        ratios = {}
        for kind, prefix in (("fedutils on Flower", "flower,"), ("plain Flower app", "plain Flower app")):
            ways = [way for way in figures if way.startswith(prefix)]
            for figure in ("wall s", "steady round s"):
                best = min(figures[way][figure] for way in ways)
                ratios[f"{figure.split()[0]}: {kind}'s best / fedutils"] = best / ours[figure]
        for label, ratio in ratios.items():
            print(f"  {label:<44} {ratio:5.2f}x")
        results[scale] = {"figures": figures, "ratios": ratios}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
