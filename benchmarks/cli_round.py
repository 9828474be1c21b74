"""A ``fast`` round from the command line against a plain PyTorch loop doing the same training, in one run.

The workload is the ``fast`` preset's round: 10 agents, each E = 5 epochs over
its 6,000-image Fashion-MNIST shard, B = 50, a fresh Adam (lr 1e-3).

1. ``plain loop``: what a newcomer writes — each agent's model trained in turn,
   one ``nn.Module`` step after another, its batches taken from a shuffled
   permutation of its shard (the same shards and network), then FedAvg; no
   evaluation. Run in its own Python process.
2. ``fedutils CLI``: ``python -m fedutils run --preset fast --rounds 1 --no-cache``,
   which also evaluates the new global model and every w_G + δ_i on the
   10,000 test images and records the round.

It prints each way's whole command (Python, imports and data included) and its
work alone (the loop's training, the CLI's recorded round), and the ratios.
Timings on a shared machine are noisy: compare ratios from one run.

Usage: python benchmarks/cli_round.py [--repeats 2] [--epochs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN_LOOP = """
import sys, time, torch, torch.nn.functional as F
from fedutils import preset
from fedutils.models import build_model
from fedutils.run_options import DataSource
from fedutils.simulation.setup import prepare

config = preset("fast", local_epochs={epochs}, max_rounds=1)
setup = prepare(config, DataSource(download=False))
start = build_model(config.model).state_dict()
started = time.perf_counter()
states = []
for agent in range(config.num_agents):
    shard = setup.agent_data(agent)
    model = build_model(config.model)
    model.load_state_dict(start)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    model.train()
    for _ in range(int(config.local_epochs)):
        order = torch.randperm(len(shard))
        for first in range(0, len(shard) - config.batch_size + 1, config.batch_size):
            rows = order[first : first + config.batch_size]
            optimiser.zero_grad()
            F.cross_entropy(model(shard.x[rows]), shard.y[rows]).backward()
            optimiser.step()
    states.append(model.state_dict())
average = {{name: torch.stack([s[name] for s in states]).mean(0) for name in start}}
print(time.perf_counter() - started)
"""
"""The plain loop, as a script (``{epochs}`` filled in); it prints the seconds its training took."""


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, finished.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each way (the median is printed)")
    parser.add_argument("--epochs", type=int, default=5, help="local epochs E (default 5, the preset's)")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"loop wall": [], "loop work": [], "cli wall": [], "cli work": []}
    with tempfile.TemporaryDirectory() as folder:
        script, records = Path(folder) / "plain_loop.py", Path(folder) / "round.json"
        script.write_text(PLAIN_LOOP.format(epochs=args.epochs))
        cli = [sys.executable, "-m", "fedutils", "run", "--preset", "fast", "--rounds", "1", "--epochs"]
        cli += [str(args.epochs), "--no-cache", "--quiet", "--json", str(records)]
        for _ in range(args.repeats):
            wall, out = timed([sys.executable, str(script)])
            figures["loop wall"].append(wall)
            figures["loop work"].append(float(out.strip().splitlines()[-1]))
            wall, _ = timed(cli)
            figures["cli wall"].append(wall)
            figures["cli work"].append(_round_seconds(json.loads(records.read_text())))
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(f"10 agents × 6,000 images, E = {args.epochs}, B = 50, Adam; median of {args.repeats}")
    print(f"  {'way':<44} {'command s':>10} {'work s':>8}")
    print(f"  {'plain PyTorch loop (training only)':<44} {median['loop wall']:10.1f} {median['loop work']:8.1f}")
    print(f"  {'fedutils CLI round (evaluation included)':<44} {median['cli wall']:10.1f} {median['cli work']:8.1f}")
    print(
        f"  fedutils is {median['loop work'] / median['cli work']:.2f}x faster at the work, "
        f"{median['loop wall'] / median['cli wall']:.2f}x for the whole command"
    )


def _round_seconds(rounds: list[dict]) -> float:
    """The recorded seconds of the one round in the CLI's ``--json`` file (a list of round records)."""
    return float(rounds[0]["seconds"])


if __name__ == "__main__":
    main()
