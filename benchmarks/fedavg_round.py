"""How much a FedAvg round in fedutils costs beyond its training steps.

Times one round of the paper's workload (k agents, each E epochs over its
6,000-image shard with B = 50) three ways, on the same data and model:

1. ``plain``: a straightforward PyTorch loop — a DataLoader over each shard,
   ``torch.optim.Adam`` with its defaults, state dicts in and out;
2. ``fedutils training``: the agents' updates and the FedAvg step, as the
   federation computes them (no evaluation);
3. ``fedutils round``: a whole recorded round of ``run_federation``, which also
   evaluates the global model and every w_G + δ_i on the 10,000 test images.

It prints seconds per round (median of the repeats), training images per
second, and ratios against the plain loop. Timings on a shared machine are
noisy: compare ratios from one run, not absolute numbers across runs.

Usage: python benchmarks/fedavg_round.py --model fast_cnn --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from fedutils.aggregators import fedavg
from fedutils.models import ModelName, build_model
from fedutils.presets import preset
from fedutils.run_options import DataSource
from fedutils.simulation.evaluator import Evaluator
from fedutils.simulation.federation import run_federation
from fedutils.simulation.setup import build_agents, initial_parameters, prepare


def plain_round(setup, global_state: dict[str, torch.Tensor], epochs: int, batch_size: int) -> None:
    """One FedAvg round written the way a PyTorch tutorial would."""
    model = build_model(setup.config.model)
    deltas = []
    for agent_id in range(setup.config.num_agents):
        data = setup.agent_data(agent_id)
        model.load_state_dict(global_state)
        optimizer = torch.optim.Adam(model.parameters(), lr=setup.config.learning_rate)
        loader = DataLoader(TensorDataset(data.x, data.y), batch_size=batch_size, shuffle=False, drop_last=True)
        model.train()
        for _ in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        deltas.append({k: v.detach() - global_state[k] for k, v in model.state_dict().items()})
    for key in global_state:
        global_state[key] = global_state[key] + sum(d[key] for d in deltas) / len(deltas)


def median_seconds(work: Callable[[], None], repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=[m.value for m in ModelName], default=ModelName.FAST_CNN.value)
    parser.add_argument("--epochs", type=int, default=1, help="local epochs E per round (default 1)")
    parser.add_argument("--agents", type=int, default=10, help="agents k, all taking part")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = preset("fast", model=args.model, local_epochs=args.epochs, num_agents=args.agents, max_rounds=1)
    config = config.replace(stop_accuracy=None)
    setup = prepare(config, DataSource(download=False))
    device = torch.device("cpu")
    agents = build_agents(setup, device)
    start = initial_parameters(config, setup.dataset.num_classes)
    weights = torch.full((len(agents),), config.aggregation_weight)
    evaluator = Evaluator(build_model(config.model), setup.validation, setup.targets)
    state = {k: v.clone() for k, v in build_model(config.model).state_dict().items()}

    def fedutils_training() -> None:
        fedavg(torch.stack([a.compute_update(start, 1) for a in agents]), weights)

    def fedutils_round() -> None:
        run_federation(config, agents, evaluator, start, progress=False)

    results = {
        "plain PyTorch loop (DataLoader, Adam defaults)": median_seconds(
            lambda: plain_round(setup, state, args.epochs, config.batch_size), args.repeats
        ),
        "fedutils: agents' updates + FedAvg": median_seconds(fedutils_training, args.repeats),
        "fedutils: recorded round (with evaluation)": median_seconds(fedutils_round, args.repeats),
    }
    images = sum(a.num_steps for a in agents) * config.batch_size
    baseline = next(iter(results.values()))
    print(
        f"model {args.model}, k = {args.agents}, E = {args.epochs}, B = {config.batch_size}, "
        f"{args.threads} thread(s), median of {args.repeats}"
    )
    print(f"{'workload':<48} {'s/round':>8} {'train img/s':>12} {'vs plain':>9}")
    for name, seconds in results.items():
        print(f"{name:<48} {seconds:8.2f} {images / seconds:12.0f} {baseline / seconds:8.2f}x")


if __name__ == "__main__":
    main()
