"""The study behind the ``fast`` preset's network, as recorded by ``scripts/network_study.py``.

Every candidate network replaced the ``fast`` preset's in the paper's setting
and ran the same protocol (explicit boosting over seeds 0–2, FedAvg, λ = 1;
see the script). A wider screening ran only seed 0 of explicit boosting and
of FedAvg, for four rounds, on more candidates of the same size, and a size
screening the same runs on larger networks and on model A's dense layer. The
results ship with the package (``fedutils/book/recorded/studies/network_study.json``,
``network_screen.json`` and ``network_sizes.json``), so the appendix shows
them without the hours of CPU time they took. This module reads them and sums
them up in the numbers the choice was made on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedutils.analysis import rounds_frame
from fedutils.data.targets import PAPER_TARGET, Target
from fedutils.models import ModelA, count_parameters
from fedutils.records import RunResult

SEEDS = (0, 1, 2)
STUDY_FILE = "network_study.json"
SCREEN_FILE = "network_screen.json"
SIZES_FILE = "network_sizes.json"
STUDY_FOLDER = "studies"
"""Beside the recorded runs, but not one of them (:func:`fedutils.book.recorded.available` lists only runs)."""
SCREEN_SEED = 0
"""The one seed of the screening's runs (explicit boosting and FedAvg, four rounds each)."""
GOAL_CONFIDENCE = 0.9
"""What the CPU network should show, as model A and the talk do: the target's confidence at t = 3–4 at least
this (the talk: 0.93 and 0.99) …"""
GOAL_ACCURACY_LOST = 1.5
"""… while the attack costs the global model at most this many points of validation accuracy (model A, recorded:
0.7 at t = 4)."""
NOT_TIMED = "–"
"""What the screening's table shows for a round time nobody measured."""
MODEL_A = "model A"
"""The name the paper's network has among the candidates (:func:`model_a_reference`)."""
MODEL_A_MS_PER_STEP = 244.06
"""One local step (B = 50) of model A on one thread, in ms, measured as the candidates' are
(``scripts/network_study.py``'s ``step_milliseconds``, alone on the book's two-core machine, 2026-11-29)."""
OTHER_TARGETS = (Target(3846, 6), Target(2720, 5), Target(1989, 1), Target(2144, 6))
"""Four targets of the authors' ten-target draw (:func:`~fedutils.data.targets.draw_paper_targets`, seed 777),
each of another class: a dress → shirt, a bag → sandal, a T-shirt → trouser, a coat → shirt. The study checks
the chosen network's explicit boosting on them besides the paper's sandal → sneaker."""


@dataclass(frozen=True)
class Curves:
    """Validation accuracy (fractions) and the target's confidence after each round of one run."""

    accuracy: tuple[float, ...]
    confidence: tuple[float, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> Curves:
        return cls(tuple(data["accuracy"]), tuple(data["confidence"]))

    def first_round_reaching(self, accuracy: float) -> int | None:
        """The first round whose validation accuracy is at least ``accuracy``, or ``None``."""
        return next((t for t, value in enumerate(self.accuracy, start=1) if value >= accuracy), None)


@dataclass(frozen=True)
class Candidate:
    """One network of the study.

    Attributes:
        name: the script's name for it (e.g. ``c4k5s2p2h256d0.25``).
        description: what it is, in words.
        parameters: its number of parameters.
        runs: run name (``explicit_s0``, ``fedavg_s1``, ``explicit_boost1_s0``, …) → curves.
        targets: the runs on the other targets (only for the chosen network): ``3846:6_explicit_s0``,
            ``3846:6_explicit_boost1_s0``, …
        seconds_per_round: one FedAvg round as the book runs it, on the machine's cores.
        ms_per_step: one agent's local step (B = 50) on one thread.
    """

    name: str
    description: str
    parameters: int
    runs: dict[str, Curves]
    targets: dict[str, Curves] = field(default_factory=dict)
    seconds_per_round: float | None = None
    ms_per_step: float | None = None

    def explicit(self, seed: int, target: str | None = None) -> Curves:
        """Explicit boosting's run with ``seed``, on the paper's target or on ``target`` (``"3846:6"``)."""
        return self._on_target(f"explicit_s{seed}", target)

    def unboosted(self, target: str | None = None) -> Curves:
        """The same attack without boosting (λ = 1, seed 0)."""
        return self._on_target("explicit_boost1_s0", target)

    def boosting(self, rounds: Sequence[int], target: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Explicit boosting over seeds 0–2: the target's confidence at ``rounds`` (seeds × rounds), and the
        validation accuracy it costs at the last of them against FedAvg of the same seed (points, per seed)."""
        confidences = np.array([[self.explicit(seed, target).confidence[t - 1] for t in rounds] for seed in SEEDS])
        lost = np.array([self.accuracy_lost(seed, rounds[-1], target) for seed in SEEDS])
        return confidences, lost

    def accuracy_lost(self, seed: int, at_round: int, target: str | None = None) -> float:
        """The validation accuracy explicit boosting (``seed``, on the paper's target or ``target``) costs after
        round ``at_round``, against FedAvg of the same seed (points)."""
        index = at_round - 1
        return 100 * (self.fedavg(seed).accuracy[index] - self.explicit(seed, target).accuracy[index])

    def _on_target(self, run: str, target: str | None) -> Curves:
        if target is None or target == str(PAPER_TARGET):
            return self.runs[run]
        return self.targets[f"{target}_{run}"]

    def fedavg(self, seed: int) -> Curves:
        return self.runs[f"fedavg_s{seed}"]


def model_a_reference(
    explicit: RunResult, fedavg: RunResult, ms_per_step: float | None = MODEL_A_MS_PER_STEP
) -> Candidate:
    """The paper's model A as one more screened network: its recorded seed-0 explicit-boosting and FedAvg runs
    (``recorded_run("explicit_boosting_paper_seed0")``, ``recorded_run("fedavg_paper_seed0")``) in a
    :class:`Candidate`, so that tables and figures put it beside the candidates it should be compared with."""

    def curves(run: RunResult) -> Curves:
        frame = rounds_frame(run)
        return Curves(tuple(frame.val_accuracy), tuple(frame.target_confidence))

    runs = {f"explicit_s{SCREEN_SEED}": curves(explicit), f"fedavg_s{SCREEN_SEED}": curves(fedavg)}
    return Candidate(
        name=MODEL_A,
        description="model A, the paper's: conv 5×5×64 → conv 5×5×64 → dense 128",
        parameters=count_parameters(ModelA()),
        runs=runs,
        ms_per_step=ms_per_step,
    )


def load_network_study(path: str | Path | None = None) -> dict[str, Candidate]:
    """The recorded study (or the JSON file at ``path``), candidate name → :class:`Candidate`, in file order."""
    return _load(STUDY_FILE, path)


def load_network_screen(path: str | Path | None = None) -> dict[str, Candidate]:
    """The recorded screening (or the JSON file at ``path``): candidates with only seed 0's explicit-boosting
    and FedAvg runs (``explicit_s0``, ``fedavg_s0``, four rounds each), in file order."""
    return _load(SCREEN_FILE, path)


def load_network_sizes(path: str | Path | None = None) -> dict[str, Candidate]:
    """The recorded size screening (or the JSON file at ``path``): the screening's protocol on networks of other
    sizes than the ``fast`` preset's, the question being whether explicit boosting's accuracy cost falls with
    the number of parameters (``c4k5s2p2h1024d0.25``, ``c4k5s2p2h4096d0.25``: the chosen shape with a wider
    dense layer), with the features (``c64k9s1p0h128d0.5``: model A's dense layer behind one convolution), or
    with the dense layer's width at the same size (``c4k5s4p2h1024d0.25``, ``c4k7s4p3h1024d0.25``). The
    network of 4,096 units also ran on seeds 1 and 2."""
    return _load(SIZES_FILE, path)


def _load(recorded_file: str, path: str | Path | None) -> dict[str, Candidate]:
    if path is None:
        text = (resources.files("fedutils.book.recorded") / STUDY_FOLDER / recorded_file).read_text()
    else:
        text = Path(path).read_text()
    return {name: _candidate(name, entry) for name, entry in json.loads(text).items()}


def _candidate(name: str, entry: Mapping[str, Any]) -> Candidate:
    return Candidate(
        name=name,
        description=entry.get("description", name),
        parameters=int(entry["parameters"]),
        runs={key: Curves.from_dict(curves) for key, curves in entry["runs"].items()},
        targets={key: Curves.from_dict(curves) for key, curves in entry.get("targets", {}).items()},
        seconds_per_round=entry.get("seconds_per_round"),
        ms_per_step=entry.get("ms_per_step"),
    )


def study_table(
    candidates: Mapping[str, Candidate], rounds: Sequence[int] = (2, 3, 4), reach: float = 0.89
) -> pd.DataFrame:
    """One row per candidate: its size and cost, explicit boosting's confidence at ``rounds`` (mean ± sd over
    seeds 0–2, and the lowest seed at the last round), the accuracy the attack costs at the last round
    (points, mean over seeds, against FedAvg of the same seed), FedAvg's first round at ``reach`` (seed 0),
    and the highest confidence without boosting (λ = 1, seed 0)."""
    last = rounds[-1]
    rows = {}
    for candidate in candidates.values():
        confidences, lost = candidate.boosting(rounds)
        row: dict[str, Any] = {
            "network": candidate.description,
            "parameters": candidate.parameters,
            "ms per local step (1 thread)": candidate.ms_per_step,
            "s per FedAvg round": candidate.seconds_per_round,
        }
        for column, t in enumerate(rounds):
            row[f"confidence t = {t}"] = (
                f"{confidences[:, column].mean():.2f} ± {confidences[:, column].std(ddof=1):.2f}"
            )
        row[f"lowest seed, t = {last}"] = round(float(confidences[:, -1].min()), 2)
        row[f"accuracy lost at t = {last} (points)"] = round(float(lost.mean()), 1)
        row[f"FedAvg: first round ≥ {100 * reach:g} %"] = candidate.fedavg(0).first_round_reaching(reach)
        row["λ = 1: highest confidence"] = round(max(candidate.unboosted().confidence), 2)
        rows[candidate.name] = row
    return pd.DataFrame(rows).T


def targets_table(candidate: Candidate, rounds: Sequence[int] = (2, 3, 4)) -> pd.DataFrame:
    """The five-target claim for ``candidate``: per target (the paper's first), explicit boosting's mean
    confidence at ``rounds`` and its lowest seed at the last, the accuracy it costs at the last round against
    FedAvg of the same seed (points: mean and worst over seeds 0–2), and the highest confidence without boosting
    (λ = 1, seed 0)."""
    last = rounds[-1]
    rows = {}
    for target in (str(PAPER_TARGET), *(str(t) for t in OTHER_TARGETS)):
        confidences, lost = candidate.boosting(rounds, target)
        row: dict[str, Any] = {
            f"mean confidence t = {t}": round(float(confidences[:, i].mean()), 2) for i, t in enumerate(rounds)
        }
        row[f"lowest seed, t = {last}"] = round(float(confidences[:, -1].min()), 2)
        row[f"accuracy lost at t = {last}, mean (points)"] = round(float(lost.mean()), 1)
        row[f"accuracy lost at t = {last}, worst seed (points)"] = round(float(lost.max()), 1)
        row["λ = 1: highest confidence"] = round(max(candidate.unboosted(target).confidence), 3)
        rows[target] = row
    table = pd.DataFrame(rows).T
    table.index.name = "target (test index : class)"
    return table


def seed_outcome(candidate: Candidate, at_round: int = 4, seed: int = SCREEN_SEED) -> tuple[float, float]:
    """Explicit boosting's result for one seed at round ``at_round``: the target's confidence, and the validation
    accuracy it costs against FedAvg of the same seed (points)."""
    return candidate.explicit(seed).confidence[at_round - 1], candidate.accuracy_lost(seed, at_round)


def screening_table(candidates: Mapping[str, Candidate], rounds: Sequence[int] = (2, 3, 4)) -> pd.DataFrame:
    """One row per candidate, from seed 0 alone (:data:`SCREEN_SEED`): its size, its step and round cost (where
    timed), explicit boosting's confidence at ``rounds``, and the accuracy the attack costs at the last of them
    against FedAvg of the same seed (points). Works for the full study's candidates too (their seed-0 runs)."""
    last = rounds[-1]
    rows = {}
    for candidate in candidates.values():
        attacked = candidate.explicit(SCREEN_SEED)
        row: dict[str, Any] = {
            "network": candidate.description,
            "parameters": candidate.parameters,
            "ms per local step (1 thread)": candidate.ms_per_step,
            "s per FedAvg round": NOT_TIMED if candidate.seconds_per_round is None else candidate.seconds_per_round,
        }
        row |= {f"confidence t = {t}": round(attacked.confidence[t - 1], 2) for t in rounds}
        row[f"accuracy lost at t = {last} (points)"] = round(seed_outcome(candidate, last)[1], 1)
        rows[candidate.name] = row
    return pd.DataFrame(rows).T
