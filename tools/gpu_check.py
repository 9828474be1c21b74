"""The prepared GPU call: what a lent GPU must measure, in steps that go on where an earlier call stopped.

A session is lent a GPU for minutes, one call of at most ten at a time, and
gets back at most eight files. This command spends one call's ``--budget``
on three steps, writing what it measured after every item, so a call cut
short keeps its numbers and the next call (given the same ``--out``) goes on
with what is left and does nothing twice:

1. **executors** — one round of the ``fast`` and of the paper's model-A
   federation (ten agents), trained one agent at a time and stacked: the
   seconds and the ratio; one configuration run twice and compared bit for
   bit; the dropout masks of an agent trained alone and as a stacked copy,
   compared on the device.
2. **chapters** — Chapters 1–10 as plain scripts (``tools.run_chapters``)
   on the device, timed, one after another, as many as the budget allows;
   Chapter 11 too where Flower and Ray are installed (the lent machine has
   neither; the log says it was skipped).
3. **recordings** — the model-A runs Chapters 3–6 still lack
   (``scripts/record_runs.py``), several at once sharing the GPU's memory by
   plan (:func:`memory_plan`), bundled into one file.

Files in ``--out`` (six): ``state.json`` (what is finished),
``executors.json``, ``chapters.json``, ``recordings.json``, ``recorded.json``
(the recorded runs, a bundle for ``record_runs.py --from-bundle``) and
``gpu_check.log``. The run cache and the recordings'
single files go to ``--work`` (default ``OUT/work``; on the lent machine
point it outside ``$OUT``, which may bring back only eight files).

``--dry-run`` runs the same steps on this machine's CPU at ``smoke`` size
(the chapters with the tests' smoke values, two of the recordings), so the
tests check the command, its files and its resuming in a minute or two.
``--steps`` runs only some steps.

Examples:
  python scripts/gpu_check.py --out gpu-check --work /tmp/gpu-work       # on the lent machine
  python scripts/gpu_check.py --out /tmp/check --dry-run --budget 60     # here, to try it
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fedutils import RunOptions, dropout, preset, run_experiment
from fedutils.agents import LocalTraining
from fedutils.data.dataset import LabelledData
from fedutils.device import free_memory, resolve_device
from fedutils.models import build_model, flatten_parameters
from fedutils.parallel import available_cores
from fedutils.run_options import ExecutorName
from fedutils.seeding import torch_seeded
from fedutils.simulation import batched
from fedutils.simulation.batched import StackedNetwork
from fedutils.simulation.execution import memory_needs
from fedutils.store import atomic_write
from fedutils.training import BatchOrder
from tools import record_runs
from tools.run_chapters import ROOT, SMOKE_PARAMETERS, run_chapter, run_within, settings_of

DEFAULT_BUDGET = 540.0
"""Seconds one call may spend: a device call is cut at 600, and the last item must still write its files."""
RESERVE = 15.0
"""Seconds kept back at the end of the budget, for the last item to stop and write its files."""
SHORTEST_ITEM = 5.0
"""No item starts with less than this left beyond the reserve: it could not finish."""
STATE, LOG = "state.json", "gpu_check.log"
EXECUTORS, CHAPTERS, RECORDINGS, RECORDED = "executors.json", "chapters.json", "recordings.json", "recorded.json"
FLOWER_CHAPTER = "11_flower"
FLOWER_PACKAGES = ("flwr", "ray")
RECORDING_CHAPTERS = ("03", "04", "05", "06")
"""The chapters whose model-A runs step 3 records (their recordings are :data:`tools.record_runs.RECORDINGS`)."""
RECORDED_DIR = ROOT / "fedutils" / "book" / "recorded"
DRY_RUN_RECORDINGS = ("observed_none", "observed_explicit_boosting")
"""What a dry run records (at smoke size): enough to try the step and its bundle."""
RUN_MEMORY_SHARE = 0.8
"""The part of the GPU's free memory that the recordings run at once may plan to fill together."""


@dataclass
class Check:
    """One call of the command: where it writes, its budget, and what earlier calls finished."""

    out: Path
    work: Path
    budget: float
    dry_run: bool
    started: float = field(default_factory=time.monotonic)
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.out / STATE
        self.state = json.loads(path.read_text()) if path.exists() else {"done": {}, "calls": []}
        if self.state.get("dry_run", self.dry_run) != self.dry_run:
            raise SystemExit(f"{self.out} holds a {'dry' if self.state['dry_run'] else 'real'} run: use another --out")
        self.state["dry_run"] = self.dry_run
        self.device = torch.device("cpu") if self.dry_run else resolve_device("auto")
        self.state["calls"].append({"date": _now(), "device": _device_name(self.device), "budget": self.budget})
        self.save()

    def remaining(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def has_time(self) -> bool:
        return self.remaining() > RESERVE + SHORTEST_ITEM

    def is_done(self, step: str, item: str) -> bool:
        return item in self.state["done"].get(step, {})

    def finish(self, step: str, item: str, outcome: Any, file: str) -> None:
        """Keep ``outcome`` of ``item`` in its step's file and mark it done."""
        self.state["done"].setdefault(step, {})[item] = _now()
        results = self.read(file)
        results[item] = outcome
        _write(self.out / file, results)
        self.save()
        self.log(f"{step}: {item} done")

    def read(self, file: str) -> dict[str, Any]:
        path = self.out / file
        return json.loads(path.read_text()) if path.exists() else {}

    def save(self) -> None:
        _write(self.out / STATE, self.state)

    def log(self, line: str) -> None:
        stamped = f"{_now()} {line}"
        print(stamped, flush=True)
        with open(self.out / LOG, "a") as log:
            log.write(stamped + "\n")


def executor_items(check: Check) -> dict[str, Callable[[], Any]]:
    """Step 1's items: the executor ratios, the bit-for-bit rerun, the dropout masks."""
    models = {"fast": "fast", "model_a": "paper"}
    items: dict[str, Callable[[], Any]] = {
        f"ratio_{name}": (lambda name=name, source=source: _executor_ratio(check, source))
        for name, source in models.items()
    }
    items["bit_for_bit"] = lambda: _bit_for_bit(check)
    items["dropout_masks"] = lambda: _compare_masks(check.device)
    return items


def _round_config(check: Check, source: str):
    """One round of ten agents of ``source``'s network (at smoke size in a dry run)."""
    if check.dry_run:
        model = preset(source).model
        small = {"samples_per_agent": 20, "batch_size": 10, "validation_samples": 100, "evaluate_agents": False}
        return preset("smoke", model=model, max_rounds=1, stop_accuracy=None, **small)
    return preset(source, max_rounds=1, stop_accuracy=None)


def _executor_ratio(check: Check, source: str) -> dict[str, Any]:
    """A round's seconds one agent at a time and stacked (after a warm-up round), and their ratio."""
    config = _round_config(check, source)
    options = RunOptions(device=str(check.device), cache=False, progress=False)
    warm_up = config.replace(samples_per_agent=config.batch_size)  # the device's start and kernels' first calls
    run_experiment(warm_up, options.replace(executor=ExecutorName.BATCHED))
    seconds = {
        executor.value: run_experiment(config, options.replace(executor=executor)).records[0].seconds
        for executor in (ExecutorName.SEQUENTIAL, ExecutorName.BATCHED)
    }
    return {**seconds, "sequential_over_batched": seconds["sequential"] / seconds["batched"], "model": config.model}


def _bit_for_bit(check: Check) -> dict[str, Any]:
    """The same configuration twice with the default executor: identical records and final model?"""
    config = preset("smoke" if check.dry_run else "fast", max_rounds=2, stop_accuracy=None)
    options = RunOptions(device=str(check.device), cache=False, progress=False)
    first, second = (run_experiment(config, options) for _ in range(2))
    same_records = _without_seconds(first.to_records()) == _without_seconds(second.to_records())
    same_model = torch.equal(first.final_params, second.final_params)
    return {"identical_records": same_records, "identical_final_model": same_model, "model": config.model}


def _without_seconds(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in record.items() if key != "seconds"} for record in records]


def _compare_masks(device: torch.device) -> dict[str, Any]:
    alone, stacked = dropout_masks(device)
    agree = all(
        len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        for a, b in zip(alone, stacked, strict=True)
    )
    return {"agents": len(alone), "masks_per_agent": len(alone[0]), "identical": agree}


SEEDS = (21, 22, 23)
"""The three agents' stream seeds of :func:`dropout_masks`."""
SHARD = 12


def dropout_masks(device: torch.device) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Every dropout mask three model-A agents draw on ``device``, step by step and layer by layer: trained alone
    (each agent as :meth:`~fedutils.agents.LocalTraining.train_from` runs it) and as the copies of one
    :class:`~fedutils.simulation.batched.StackedNetwork`. One dropout for every path means the two agree."""
    model = build_model("model_a", 10).to(device)
    start = flatten_parameters(model)
    generator = torch.Generator().manual_seed(5)
    shards = [
        LabelledData(
            torch.rand(SHARD, 1, 28, 28, generator=generator), torch.randint(10, (SHARD,), generator=generator)
        ).to(device)
        for _ in SEEDS
    ]
    training = LocalTraining(epochs=1, batch_size=4, learning_rate=1e-3, batch_order=BatchOrder.SHUFFLED)
    alone = []
    for shard, seed in zip(shards, SEEDS, strict=True):
        with _masks_recorded(dropout, "dropout_noise") as drawn, torch_seeded(seed, device) as order:
            training.train_from(model, start, shard, order)
        alone.append([mask.cpu() for masks in drawn.values() for mask in masks])
    steps = [training.steps_for(SHARD)] * len(SEEDS)
    with _masks_recorded(batched, "dropout_noise") as drawn:
        StackedNetwork(model, (1, 28, 28)).train(
            start, shards, steps, SEEDS, batch_size=4, learning_rate=1e-3, batch_order=BatchOrder.SHUFFLED
        )
    return alone, [[mask.cpu() for mask in masks] for masks in drawn.values()]


@contextlib.contextmanager
def _masks_recorded(module: Any, name: str) -> Iterator[dict[int, list[torch.Tensor]]]:
    """Inside the block, every mask ``module.name`` (the dropout noise function) draws, kept per generator."""
    draw = getattr(module, name)
    drawn: dict[int, list[torch.Tensor]] = defaultdict(list)

    def recorded(shape, p, generator, like):
        noise = draw(shape, p, generator, like)
        drawn[id(generator)].append(noise.clone())
        return noise

    setattr(module, name, recorded)
    try:
        yield drawn
    finally:
        setattr(module, name, draw)


def chapter_items(check: Check) -> dict[str, Callable[[], Any]]:
    """Step 2's items: each chapter as a script on the device (Chapter 11 only with Flower and Ray)."""
    environment = {
        **os.environ,
        "FEDUTILS_CACHE": str(check.work / "runs"),
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
    }
    items = {}
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        if notebook.stem == FLOWER_CHAPTER and not all(importlib.util.find_spec(p) for p in FLOWER_PACKAGES):
            check.log(f"chapters: {notebook.stem} skipped: Flower and Ray are not installed here")
            continue
        values = dict(SMOKE_PARAMETERS[notebook.stem]) if check.dry_run else {}
        values["device"] = str(check.device) if check.dry_run else "auto"
        items[notebook.stem] = lambda notebook=notebook, values=values: _timed_chapter(
            check, notebook, settings_of(values), environment
        )
    return items


def _timed_chapter(check: Check, notebook: Path, settings: list[str], environment: dict[str, str]) -> dict[str, Any]:
    seconds, error = run_chapter(notebook, settings, environment, timeout=check.remaining() - RESERVE)
    return {"seconds": round(seconds, 1), "error": error, "settings": settings}


def recording_items(check: Check) -> dict[str, Callable[[], Any]]:
    """Step 3's items: the recordings of Chapters 3–6 not yet in the book (in a dry run: all of them, smoke)."""
    preset_name = "smoke" if check.dry_run else "paper"
    wanted = DRY_RUN_RECORDINGS if check.dry_run else list(record_runs.RECORDINGS)
    missing = [
        (name, seed)
        for name, seed in record_runs.plan(wanted)
        if check.dry_run or not (RECORDED_DIR / record_runs.file_name(name, preset_name, seed)).exists()
    ]
    if not missing:
        return {}
    names = sorted({name for name, _ in missing})
    jobs = memory_plan(check.device, preset_name, len(missing))
    return {f"{preset_name}:{','.join(names)}": lambda: _record(check, names, preset_name, jobs)}


def memory_plan(device: torch.device, preset_name: str, runs: int) -> int:
    """How many recordings run at once: on a GPU as many as :data:`RUN_MEMORY_SHARE` of its free memory holds
    (each run's stacked training at its planned size, and its data), at most one per two CPU cores; on a
    CPU one per two cores."""
    cores = max(1, available_cores() // 2)
    free = free_memory(device)
    if free is None:
        return max(1, min(runs, cores))
    needs = memory_needs(preset(preset_name))
    per_run = needs.data + needs.agents * needs.per_agent  # a run with every agent of a round in one group
    return max(1, min(runs, cores, int(RUN_MEMORY_SHARE * free) // per_run))


def _record(check: Check, names: list[str], preset_name: str, jobs: int) -> dict[str, Any]:
    """Record ``names`` with ``jobs`` processes within the budget; what finished goes into the bundle either way."""
    folder = check.work / "recorded"
    folder.mkdir(exist_ok=True)
    for name, data in check.read(RECORDED).items():  # what earlier calls recorded is not recorded again
        _write(folder / name, data)
    command = [sys.executable, str(ROOT / "scripts" / "record_runs.py"), *names, "--preset", preset_name]
    command += ["--out", str(folder), "--device", str(check.device), "--jobs", str(jobs)]
    check.log(f"recordings: {jobs} at a time: {' '.join(command[2:])}")
    try:
        finished = run_within(command, ROOT, {**os.environ, "PYTHONUNBUFFERED": "1"}, check.remaining() - RESERVE)
        error = None if finished.returncode == 0 else (finished.stderr.strip().splitlines() or ["failed"])[-1]
    except subprocess.TimeoutExpired:
        error = "cut at the budget"
    bundle = {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
    _write(check.out / RECORDED, bundle)
    if error is not None:
        raise RuntimeError(f"{len(bundle)} recorded, then: {error}")
    return {"recorded": len(bundle), "jobs": jobs}


STEPS: dict[str, tuple[Callable[[Check], dict[str, Callable[[], Any]]], str]] = {
    "executors": (executor_items, EXECUTORS),
    "chapters": (chapter_items, CHAPTERS),
    "recordings": (recording_items, RECORDINGS),
}
"""Step → (its items, the file its outcomes go to), in the order they run."""


def run_steps(check: Check, steps: list[str]) -> bool:
    """Run every item of ``steps`` not finished by an earlier call, while the budget lasts; whether all are
    finished."""
    for step in steps:
        items_of, file = STEPS[step]
        for item, run in items_of(check).items():
            if check.is_done(step, item):
                check.log(f"{step}: {item} finished in an earlier call: skipped")
                continue
            if not check.has_time():
                check.log(
                    f"budget spent ({check.budget:g} s): {step}: {item} and what follows are left for the next call"
                )
                return False
            check.log(f"{step}: {item} ...")
            try:
                outcome = run()
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                check.log(f"{step}: {item} not finished: {error}")
                return False
            check.finish(step, item, outcome, file)
    check.log(f"finished: {', '.join(steps)}")
    return True


def _write(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1) + "\n"
    atomic_write(path, lambda temporary: temporary.write_text(text))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, required=True, help="the folder of the five result files (kept between calls)"
    )
    parser.add_argument("--work", type=Path, help="the run cache and single recordings (default: OUT/work)")
    parser.add_argument(
        "--budget", type=float, default=DEFAULT_BUDGET, help="seconds this call may spend (default: %(default)g)"
    )
    parser.add_argument("--dry-run", action="store_true", help="this machine's CPU, smoke size: to try the command")
    parser.add_argument(
        "--steps", nargs="+", choices=list(STEPS), default=list(STEPS), help="the steps to run (default: all, in order)"
    )
    args = parser.parse_args(argv)
    if args.budget <= RESERVE:
        parser.error(f"--budget must be more than the {RESERVE:g} seconds kept back at its end, got {args.budget:g}")
    check = Check(args.out, args.work or args.out / "work", args.budget, args.dry_run)
    check.log(f"call {len(check.state['calls'])} on {_device_name(check.device)}, budget {args.budget:g} s")
    return 0 if run_steps(check, args.steps) else 3
