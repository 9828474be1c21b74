"""What the server's checks add to a round, against the round's training.

Trains one round of the ``fast`` (or ``paper``) workload — k agents, E
epochs each — then times, on those real updates, each check's inspection of
the round: the accuracy check evaluates 2k models on the server's held-out
images (w_G + δ_i and the aggregate of the others, for every i); the distance
check computes the k × k matrix of L2 distances. It prints seconds (median of
the repeats) and each cost as a fraction of the round's training. Timings on
a shared machine are noisy: compare the ratios from one run.

Usage: python benchmarks/checks_round.py --model fast_cnn --epochs 5 --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import torch
from fedavg_round import median_seconds  # this folder is on the path when a benchmark runs as a script

from fedutils.checks import AccuracyCheck, DistanceCheck, RoundUpdates, ServerChecks
from fedutils.models import ModelName
from fedutils.presets import preset
from fedutils.run_options import DataSource
from fedutils.simulation.setup import build_agents, initial_parameters, prepare, server_resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=[m.value for m in ModelName], default=ModelName.FAST_CNN.value)
    parser.add_argument("--epochs", type=float, default=5, help="local epochs E per round (default 5, the paper's)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = preset("fast", model=args.model, local_epochs=args.epochs, checks=ServerChecks())
    setup = prepare(config, DataSource(download=False))
    device = torch.device("cpu")
    agents = build_agents(setup, device)
    start = initial_parameters(config, setup.dataset.num_classes)
    server = server_resources(setup, device)

    started = time.perf_counter()
    updates = torch.stack([agent.compute_update(start, 1) for agent in agents])
    training = time.perf_counter() - started
    round_updates = RoundUpdates(start, updates, torch.full((len(agents),), config.aggregation_weight))

    results = {
        f"training: {len(agents)} agents × E = {args.epochs:g}": training,
        f"accuracy check ({len(setup.held_out)} held-out images)": median_seconds(
            lambda: AccuracyCheck().inspect(round_updates, server), args.repeats
        ),
        "distance check (weights only)": median_seconds(
            lambda: DistanceCheck().inspect(round_updates, server), args.repeats
        ),
    }
    print(f"model {args.model}, k = {len(agents)}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'work per round':<44} {'seconds':>8} {'of training':>12}")
    for name, seconds in results.items():
        print(f"{name:<44} {seconds:8.3f} {seconds / training:11.1%}")


if __name__ == "__main__":
    main()
