"""Record the paper's-network runs that the chapters show beside their live ones.

The chapters run the ``fast`` preset live; model A (the ``paper`` preset, E = 5
local epochs) costs 15–19 minutes a round on two CPU cores, so its runs ship
with the package as recorded files (:mod:`fedutils.book.recorded`) and the chapters
read them. This script makes the ones Chapters 3–6 still lack, each for T = 4
rounds (the talk's table ends at t = 4), with seed s:

* ``observed_*`` — the server's two checks watching (Chapter 3's observe mode)
  the attack-free run, explicit boosting, the stealthy attack (loss at the
  attacker's own model, and at ŵ_G), alternating minimisation aimed at ŵ_G
  and data poisoning, seed 0: Chapter 3's verdicts and the attack's numbers
  of Chapters 4 and 5 in one run each;
* ``explicit_boosting``, ``explicit_boosting_previous``, ``alternating_aimed``
  and ``alternating_aimed_previous`` — Chapter 6's estimation table over seeds
  0–2 (seed 0 without estimation is already recorded or observed above).

Each run is written as ``<name>_<preset>_seed<s>.json`` in ``--out`` with its
provenance (the equivalent ``python -m fedutils run`` command, machine, date,
versions, seconds); runs already there are skipped, so an interrupted
recording resumes. ``--bundle FILE`` also keeps every run of this call in one
JSON file, rewritten after each run — what a remote machine that returns only
a few files should send back — and ``--from-bundle FILE`` unpacks such a file
into ``--out``.

``--jobs N`` records N runs at once, each in its own process with its share
of the CPU cores. It is meant for the GPU machine (16 cores, one H200), where
eight model-A runs of Chapter 7 once shared the device at 3.2–4.6 minutes
each: the 16 runs here make two such waves, near the 10-minute limit of one
call; a second call resumes, skipping what the first recorded (unpack its
bundle into ``--out`` first). On a CPU one run already uses every core.

Usage:
  python scripts/record_runs.py --list
  python scripts/record_runs.py --out fedutils/book/recorded --device cuda --jobs 8 --bundle $OUT/recorded.json
  python scripts/record_runs.py observed_stealthy_aimed --out fedutils/book/recorded
  python scripts/record_runs.py --from-bundle recorded.json --out fedutils/book/recorded
  python scripts/record_runs.py observed_explicit_boosting --preset smoke --out /tmp/try   # seconds: a dry run
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from fedutils import run_experiment
from fedutils.cli import build_parser, config_from_args
from fedutils.config import ExperimentConfig
from fedutils.device import resolve_device
from fedutils.parallel import available_cores
from fedutils.presets import PRESETS
from fedutils.run_options import RunOptions
from fedutils.simulation.execution import resolve_executor
from fedutils.store import atomic_write

ROUNDS = 4
OBSERVED = "--check accuracy --check distance"
AIMED = "--adversarial-model global_estimate"
ALL_ROUNDS = "--stop-accuracy none"  # Chapter 6's table runs every round, whatever the accuracy
RECORDINGS: dict[str, tuple[str, tuple[int, ...]]] = {
    "observed_none": (OBSERVED, (0,)),
    "observed_explicit_boosting": (f"--attack explicit_boosting {OBSERVED}", (0,)),
    "observed_stealthy": (f"--attack stealthy {OBSERVED}", (0,)),
    "observed_stealthy_aimed": (f"--attack stealthy {AIMED} {OBSERVED}", (0,)),
    "observed_alternating_aimed": (f"--attack alternating {AIMED} {OBSERVED}", (0,)),
    "observed_data_poisoning": (f"--attack data_poisoning {OBSERVED}", (0,)),
    "explicit_boosting": (f"--attack explicit_boosting {ALL_ROUNDS}", (1, 2)),
    "explicit_boosting_previous": (f"--attack explicit_boosting --estimation previous {ALL_ROUNDS}", (0, 1, 2)),
    "alternating_aimed": (f"--attack alternating {AIMED} {ALL_ROUNDS}", (1, 2)),
    "alternating_aimed_previous": (f"--attack alternating {AIMED} --estimation previous {ALL_ROUNDS}", (0, 1, 2)),
}
"""Recording → (its options of ``python -m fedutils run``, its seeds), in the order they are recorded: the
observed runs first (Chapters 3–5), then Chapter 6's estimation table."""


def command(recording: str, preset: str, seed: int) -> str:
    """The ``python -m fedutils run`` command equivalent to one recorded run."""
    options, _ = RECORDINGS[recording]
    return f"python -m fedutils run --preset {preset} --seed {seed} --rounds {ROUNDS} {options}"


def configuration(recording: str, preset: str, seed: int) -> ExperimentConfig:
    """The run's configuration, read from its :func:`command` by the CLI's own parser (so the two cannot differ)."""
    arguments = shlex.split(command(recording, preset, seed).removeprefix("python -m fedutils "))
    return config_from_args(build_parser().parse_args(arguments))


def file_name(recording: str, preset: str, seed: int) -> str:
    return f"{recording}_{preset}_seed{seed}.json"


def plan(recordings: Sequence[str]) -> list[tuple[str, int]]:
    """(recording, seed) pairs to record, in :data:`RECORDINGS`' order."""
    return [(name, seed) for name in RECORDINGS if name in recordings for seed in RECORDINGS[name][1]]


def machine(device: torch.device) -> str:
    """The machine in words, as the recorded runs' provenance states it (``device``: the one the run used)."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({os.cpu_count()} CPU cores)"
    if device.type == "mps":
        return f"Apple GPU (MPS), {os.cpu_count()} CPU cores"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU used"


def record(
    recording: str,
    preset: str,
    seed: int,
    device: str,
    executor: str,
    progress: bool = True,
    memory_share: float = 1.0,
) -> dict[str, Any]:
    """Run one recording and return it in the recorded-run format with its provenance (``memory_share``: the
    part of the GPU's memory it may plan for, when several runs share the GPU)."""
    config = configuration(recording, preset, seed)
    options = RunOptions(
        device=device, executor=executor, cache=False, progress=progress, gpu_memory_share=memory_share
    )
    result = run_experiment(config, options)
    used = resolve_device(device)  # what "auto" chose: the provenance names the device and executor that ran
    data = result.to_json_dict()
    data["provenance"] = {
        "command": command(recording, preset, seed),
        "machine": machine(used),
        "device": str(used),
        "executor": resolve_executor(executor, used).value,
        "gpu_arithmetic": options.gpu_arithmetic.value if used.type == "cuda" else None,
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seconds": round(result.seconds, 1),
    }
    return data


def record_alone(
    recording: str, preset: str, seed: int, device: str, executor: str, threads: int, jobs: int
) -> dict[str, Any]:
    """:func:`record` in one of ``jobs`` worker processes, with ``threads`` torch threads, no progress bars, and
    its share of a GPU's memory."""
    torch.set_num_threads(threads)
    return record(recording, preset, seed, device, executor, progress=False, memory_share=1 / jobs)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` as indented JSON, atomically."""
    text = json.dumps(data, indent=1) + "\n"
    atomic_write(path, lambda temporary: temporary.write_text(text))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recordings", nargs="*", metavar="RECORDING", help="what to record (default: everything)")
    parser.add_argument("--out", type=Path, help="the folder of recorded runs (e.g. fedutils/book/recorded)")
    parser.add_argument("--list", action="store_true", help="list the recordings and their commands, run nothing")
    parser.add_argument(
        "--preset", default="paper", choices=sorted(PRESETS), help="paper (default); smoke tries it all in seconds"
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")
    parser.add_argument("--executor", default="auto", help="auto (default), sequential, parallel or batched")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="record N runs at once, each in its own process with its share of the CPU cores "
        "(on a GPU they share the device; default 1)",
    )
    parser.add_argument("--bundle", type=Path, help="also keep this call's runs in one JSON file (for remote runs)")
    parser.add_argument("--from-bundle", type=Path, metavar="FILE", help="write the runs of a bundle into --out")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.recordings) - set(RECORDINGS))
    if unknown:
        parser.error(f"unknown recording {', '.join(unknown)}; choose from {', '.join(RECORDINGS)} (see --list)")
    todo = plan(args.recordings or list(RECORDINGS))
    if args.list:
        for name, seed in todo:
            print(f"{file_name(name, args.preset, seed):55} {command(name, args.preset, seed)}")
        return 0
    if args.out is None:
        parser.error("--out is required: the folder the recorded runs go to (e.g. fedutils/book/recorded)")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1 (runs recorded at once), got {args.jobs}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_bundle is not None:
        for name, data in json.loads(args.from_bundle.read_text()).items():
            write_json(args.out / name, data)
            print(f"wrote {args.out / name}")
        return 0
    bundle: dict[str, Any] = {}

    def keep(name: str, seed: int, data: dict[str, Any]) -> None:
        target = args.out / file_name(name, args.preset, seed)
        write_json(target, data)
        print(f"recorded {target} in {data['provenance']['seconds'] / 60:.1f} min", flush=True)
        if args.bundle is not None:
            bundle[target.name] = data
            write_json(args.bundle, bundle)

    pending = []
    for name, seed in todo:
        if (args.out / file_name(name, args.preset, seed)).exists():
            print(f"{args.out / file_name(name, args.preset, seed)} is already recorded: skipped")
        else:
            pending.append((name, seed))
    if args.jobs == 1:
        for name, seed in pending:
            print(f"recording {file_name(name, args.preset, seed)}: {command(name, args.preset, seed)}", flush=True)
            keep(name, seed, record(name, args.preset, seed, args.device, args.executor))
        return 0
    threads = max(1, available_cores() // args.jobs)
    print(f"recording {len(pending)} runs, {args.jobs} at a time with {threads} torch thread(s) each", flush=True)
    spawn = multiprocessing.get_context("spawn")  # a forked process cannot use CUDA
    with ProcessPoolExecutor(args.jobs, mp_context=spawn) as pool:
        runs = {
            pool.submit(record_alone, name, args.preset, seed, args.device, args.executor, threads, args.jobs): (
                name,
                seed,
            )
            for name, seed in pending
        }
        for finished in as_completed(runs):
            keep(*runs[finished], finished.result())
    return 0


if __name__ == "__main__":
    sys.exit(main())
