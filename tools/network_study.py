"""The study behind the ``fast`` preset's network: which cheap CNN behaves like the paper's model A?

Every candidate replaces the ``fast`` preset's network in the paper's setting
(10 agents × 6,000 images, E = 5, B = 50, Adam 1e-3, the sandal → sneaker
target) and runs, with the agents trained one after another on one torch
thread (so that results are reproducible to the bit on one machine):

* explicit boosting (λ = 10, 5 Adam steps; Chapter 2), seeds 0–2, 4 rounds:
  the target's confidence at t = 2, 3, 4 against the talk's 0.63, 0.93, 0.99;
* FedAvg without an attacker, seeds 0–2, 4 rounds (seed 0: 10 rounds): the
  accuracy the attack costs, and the rounds to 89 %;
* explicit boosting with λ = 1, seed 0, 4 rounds: without boosting the attack must fail;
* with ``--time``: the seconds of one FedAvg round on this machine's cores
  with the default executor (as the book runs it), and the milliseconds of
  one agent's local step on one thread — measure alone, on an idle machine;
* with ``--targets``: the claim beyond the one target, for the candidates
  given: the explicit-boosting runs above (seeds 0–2, and λ = 1) on four
  more targets of the authors' own draw (:data:`OTHER_TARGETS`), compared
  with the same attack-free runs;
* with ``--screen``: a quick look at many candidates instead, seed 0 only:
  explicit boosting and FedAvg for 4 rounds each (the first runs of the
  protocol above, FedAvg cut at round 4), and one agent's local step on one
  thread; with ``--screen --time``, also one FedAvg round as the book runs it,
  and with ``--screen --seeds 1 2`` the same runs on other seeds.
  Runs already in ``--out`` are not repeated, so ``--screen`` on a screened
  candidate only re-takes its timings (do that alone, on an idle machine).

A candidate is written ``c{channels}k{kernel}s{stride}p{padding}h{hidden}d{dropout}``:
conv(1 → channels) → ReLU → dense(hidden) → ReLU → dropout → dense(10), e.g.
``c4k5s2p2h256d0.25``; ``two_conv`` is the ``fast`` preset's earlier network
(two strided convolutions, 207,178 parameters) and ``mlp512`` a network
without convolution. Results go to ``--out`` (JSON, one entry per candidate,
resumed if the file exists), which the appendix page reads.

Usage:
  python scripts/network_study.py c4k5s2p2h256d0.25 two_conv --out fedutils/book/recorded/studies/network_study.json
  python scripts/network_study.py c4k5s2p2h256d0.25 --time --out fedutils/book/recorded/studies/network_study.json
  python scripts/network_study.py c8k5s2p2h128d0.25 mlp256 --screen \\
      --out fedutils/book/recorded/studies/network_screen.json
  python scripts/network_study.py c4k5s2p2h4096d0.25 --screen --time \\
      --out fedutils/book/recorded/studies/network_sizes.json
  python scripts/network_study.py c4k5s2p2h4096d0.25 --screen --seeds 1 2 \\
      --out fedutils/book/recorded/studies/network_sizes.json
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fedutils import models, preset, run_experiment
from fedutils.analysis import rounds_frame
from fedutils.attacks import ExplicitBoosting
from fedutils.book.network_study import OTHER_TARGETS, SCREEN_SEED, SEEDS
from fedutils.config import ExperimentConfig
from fedutils.parallel import available_cores, one_intra_op_thread
from fedutils.run_options import DataSource, RunOptions
from fedutils.simulation.setup import build_agents, initial_parameters, prepare

SPEC = re.compile(r"c(\d+)k(\d+)s(\d+)p(\d+)h(\d+)d([\d.]+)")
ATTACK_ROUNDS = 4
FEDAVG_ROUNDS = 10
BASE = preset("fast", evaluate_agents=False, stop_accuracy=None)

QUIET = RunOptions(cache=False, progress=False, data=DataSource(download=False))
"""How the study runs: nothing cached (it records its own results), no bars, the data from local files."""


class SingleConvNet(models.ConvClassifier):
    """conv(1 → channels, kernel, stride, padding) → ReLU → dense(hidden) → ReLU → dropout → dense(classes)."""

    def __init__(self, channels: int, kernel: int, stride: int, padding: int, hidden: int, dropout: float) -> None:
        side = (28 + 2 * padding - kernel) // stride + 1
        features = nn.Sequential(nn.Conv2d(1, channels, kernel, stride, padding), nn.ReLU())
        super().__init__(features, channels * side * side, dropout, 10, hidden=hidden)


class TwoConvNet(models.ConvClassifier):
    """The ``fast`` preset's earlier network: conv 5×5×16 s2 → conv 3×3×32 s2 → dense 128 → dense 10."""

    def __init__(self, num_classes: int = 10) -> None:
        features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
        )
        super().__init__(features, num_features=32 * 7 * 7, dropout=0.25, num_classes=num_classes)


class MLP(models.ConvClassifier):
    """No convolution: the 784 pixels → dense(hidden) → ReLU → dropout 0.5 → dense 10."""

    def __init__(self, hidden: int) -> None:
        super().__init__(nn.Sequential(nn.Identity()), 784, 0.5, 10, hidden=hidden)


def candidate(spec: str) -> type[nn.Module]:
    """The network class a candidate's name stands for (built without arguments, like the library's)."""
    if spec == "two_conv":
        return TwoConvNet
    if spec.startswith("mlp"):
        hidden = int(spec[3:])
        return type(spec, (MLP,), {"__init__": lambda self, num_classes=10: MLP.__init__(self, hidden)})
    match = SPEC.fullmatch(spec)
    if match is None:
        raise SystemExit(
            f"network_study: cannot read the candidate {spec!r} (e.g. c4k5s2p2h256d0.25, two_conv, mlp512)"
        )
    *sizes, dropout = match.groups()
    channels, kernel, stride, padding, hidden = map(int, sizes)

    def build(self: nn.Module, num_classes: int = 10) -> None:
        SingleConvNet.__init__(self, channels, kernel, stride, padding, hidden, float(dropout))

    return type(spec, (SingleConvNet,), {"__init__": build})


def describe(spec: str) -> str:
    """A candidate in words, for the appendix's table and legend."""
    if spec == "two_conv":
        return "conv 5×5×16 s2 → conv 3×3×32 s2 → dense 128 (the earlier fast CNN)"
    if spec.startswith("mlp"):
        return f"dense {spec[3:]}, no convolution"
    channels, kernel, stride, _, hidden, dropout = SPEC.fullmatch(spec).groups()
    return f"conv {kernel}×{kernel}×{channels} s{stride} → dense {hidden}, dropout {dropout}"


@contextlib.contextmanager
def fast_network(network: type[nn.Module]) -> Iterator[None]:
    """Inside the block, the ``fast`` preset's network is ``network`` (runs are not cached)."""
    original = models._ARCHITECTURES[models.ModelName.FAST_CNN]
    models._ARCHITECTURES[models.ModelName.FAST_CNN] = network
    try:
        yield
    finally:
        models._ARCHITECTURES[models.ModelName.FAST_CNN] = original


def curves(config: ExperimentConfig) -> dict[str, list[float]]:
    """Validation accuracy and target confidence per round, agents one after another on one torch thread."""
    with one_intra_op_thread():
        result = run_experiment(config, QUIET.replace(executor="sequential"))
    frame = rounds_frame(result)
    return {
        "accuracy": frame.val_accuracy.round(4).tolist(),
        "confidence": frame.target_confidence.round(3).tolist(),
    }


def protocol() -> dict[str, ExperimentConfig]:
    """The runs every candidate makes, by name (on the paper's target)."""
    plan = {f"explicit_s{s}": BASE.replace(seed=s, max_rounds=ATTACK_ROUNDS, attack=ExplicitBoosting()) for s in SEEDS}
    plan |= {f"fedavg_s{s}": BASE.replace(seed=s, max_rounds=FEDAVG_ROUNDS if s == 0 else ATTACK_ROUNDS) for s in SEEDS}
    plan["explicit_boost1_s0"] = BASE.replace(seed=0, max_rounds=ATTACK_ROUNDS, attack=ExplicitBoosting(boost=1.0))
    return plan


def screening_protocol(seeds: Sequence[int] = (SCREEN_SEED,)) -> dict[str, ExperimentConfig]:
    """The screening's runs: explicit boosting and FedAvg on each of ``seeds`` (seed 0), four rounds each."""
    plan = {}
    for seed in seeds:
        explicit = BASE.replace(seed=seed, max_rounds=ATTACK_ROUNDS, attack=ExplicitBoosting())
        plan |= {f"explicit_s{seed}": explicit, f"fedavg_s{seed}": explicit.replace(attack=None)}
    return plan


class Timing(enum.Enum):
    """What :func:`study` times after its runs."""

    NOTHING = "nothing"
    STEP = "one local step"
    ROUND = "one local step and a FedAvg round"


def study(
    spec: str,
    entry: dict[str, Any],
    save: Callable[[], None],
    timing: Timing,
    plan: dict[str, ExperimentConfig] | None = None,
) -> None:
    """Run whatever ``entry`` lacks of ``plan`` (by default the full :func:`protocol`) for the candidate ``spec``,
    saving after each run, then take the ``timing``."""
    runs = entry.setdefault("runs", {})
    with fast_network(candidate(spec)):
        entry["parameters"] = models.count_parameters(models.build_model(models.ModelName.FAST_CNN))
        entry["description"] = describe(spec)
        for key, config in (plan or protocol()).items():
            if key not in runs:
                runs[key] = curves(config)
                print(f"{spec} {key}: {runs[key]}", flush=True)
                save()
        if timing is not Timing.NOTHING:
            entry |= timings(BASE) if timing is Timing.ROUND else {"ms_per_step": step_milliseconds(BASE)}
            per_round = f"{entry['seconds_per_round']} s per FedAvg round, " if "seconds_per_round" in entry else ""
            print(f"{spec}: {per_round}{entry['ms_per_step']} ms per local step on one thread")
            save()


def timings(base: ExperimentConfig) -> dict[str, Any]:
    """What the ``fast`` preset's network costs here: one FedAvg round as the book runs it (the default
    executor, every agent's model evaluated; the second round, after warm-up), and one local step of one
    agent on one thread."""
    result = run_experiment(base.replace(seed=0, max_rounds=2, evaluate_agents=True), QUIET)
    return {
        "seconds_per_round": round(result.records[1].seconds, 1),
        "ms_per_step": step_milliseconds(base),
        "cores": available_cores(),
    }


def step_milliseconds(base: ExperimentConfig) -> float:
    """One local step (B = 50) of one agent on one thread, in ms: a whole local training timed after a warm-up."""
    setup = prepare(base, DataSource(download=False))
    agent = build_agents(setup, torch.device("cpu"))[0]
    start = initial_parameters(base, setup.dataset.num_classes)
    with one_intra_op_thread():
        agent.compute_update(start, 1)
        started = time.perf_counter()
        agent.compute_update(start, 1)
        seconds = time.perf_counter() - started
    return round(1000 * seconds / agent.num_steps, 2)


def target_study(spec: str, entry: dict[str, Any], save: Callable[[], None]) -> None:
    """The protocol's explicit-boosting runs (seeds 0–2, and λ = 1 on seed 0) on four more targets; the paper's
    target and the attack-free runs are the protocol's own."""
    runs = entry.setdefault("targets", {})
    with fast_network(candidate(spec)):
        for target in OTHER_TARGETS:
            for key, config in protocol().items():
                if key.startswith("explicit") and f"{target}_{key}" not in runs:
                    runs[f"{target}_{key}"] = curves(config.replace(targets=(target,)))
                    print(f"{spec} {target}_{key}: {runs[f'{target}_{key}']}", flush=True)
                    save()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+", help="candidate networks (see above)")
    parser.add_argument("--out", required=True, help="the JSON file of results (created, or resumed)")
    parser.add_argument(
        "--time", action="store_true", help="also time one FedAvg round with the default executor (and one step)"
    )
    parser.add_argument("--targets", action="store_true", help="only the five-target claim runs (see above)")
    parser.add_argument(
        "--screen", action="store_true", help="only the explicit-boosting and FedAvg runs of seed 0 (or --seeds)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[SCREEN_SEED],
        metavar="SEED",
        help=f"with --screen: the seeds to screen (default {SCREEN_SEED}; a check of a screened network's seed-0 "
        "result on more seeds)",
    )
    args = parser.parse_args(argv)
    if args.seeds != [SCREEN_SEED] and not args.screen:
        parser.error("--seeds applies to --screen only (the full protocol always runs seeds 0-2)")
    path = Path(args.out)
    results = json.loads(path.read_text()) if path.exists() else {}

    def save() -> None:
        path.write_text(json.dumps(results, indent=1) + "\n")

    for spec in args.candidates:
        candidate(spec)  # a bad name fails before anything runs
    for spec in args.candidates:
        if args.targets:
            target_study(spec, results.setdefault(spec, {}), save)
        elif args.screen:
            timing = Timing.ROUND if args.time else Timing.STEP
            if SCREEN_SEED not in args.seeds:  # other seeds check a screened network's result: nothing to re-time
                timing = Timing.NOTHING
            study(spec, results.setdefault(spec, {}), save, timing, screening_protocol(args.seeds))
        else:
            study(spec, results.setdefault(spec, {}), save, Timing.ROUND if args.time else Timing.NOTHING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
