"""Where one chapter's time goes: its main thread sampled every few milliseconds, each sample put in a phase.

Loaded first by the script :mod:`book_profile` makes of a chapter (``start``), it
samples what the process's main thread is running and adds the time since the
last sample to the phase of that stack, so the phases add up to the chapter's
wall time. A stack's phase is the first of :data:`PHASES` that one of its frames
belongs to: the attacker's optimisation counts as the attacker even when it
evaluates or trains (its frames are inside ``fedutils.attacks``), the server's
checks as checks even when they evaluate a model, and so on. When the parallel
executor's threads train the honest agents, the main thread waits for them
inside the executor, so their time counts as honest training.

Figures are rendered as the notebook's inline backend renders them (``plt.show``
prints each open figure to PNG in memory), so plotting costs what it costs in
the book. On exit the phase totals are written to the JSON file named by
``start``.
"""

from __future__ import annotations

import atexit
import io
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import FrameType

SAMPLE_SECONDS = 0.005
"""How often the main thread is sampled."""

PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("imports", ("<frozen importlib._bootstrap",)),
    ("federation engine (Flower, Ray)", ("/flwr/", "/ray/", "/fedutils/flower/")),
    ("Captum", ("/captum/",)),
    ("plotting", ("/matplotlib/", "/seaborn/", "/fedutils/book/plots/")),
    ("attacker's optimisation", ("/fedutils/attacks/",)),
    ("server checks", ("/fedutils/checks/",)),
    ("evaluation", ("/fedutils/simulation/evaluator.py", "training.py:evaluat", "training.py:logits")),
    ("honest training", ("/fedutils/simulation/", "/fedutils/agents.py", "/fedutils/training.py")),
    ("aggregation", ("/fedutils/aggregators/",)),
    ("Adult data", ("/fedutils/data/adult",)),
    ("data loading and partitioning", ("/fedutils/data/",)),
    ("run cache", ("/fedutils/store.py", "/fedutils/records.py")),
)
"""Each phase and the markers of its frames (a file path part, or ``file.py:function`` prefix), most specific first
(a module's code run by an import counts as the import)."""

OTHER = "other (the chapter's own code, tables, Python)"
START_UP = "process start-up and exit"
"""What the sampler cannot see: the wall time of the process outside the sampled span (found by the driver)."""


def phase_of(frame: FrameType | None) -> str:
    """The phase of the stack that ends in ``frame`` (see :data:`PHASES`)."""
    where = []
    while frame is not None:
        code = frame.f_code
        where.append(f"{code.co_filename}:{code.co_name}")
        frame = frame.f_back
    for phase, markers in PHASES:
        for place in where:
            path, _, function = place.rpartition(":")
            short = f"{Path(path).name}:{function}"
            if any(marker in path or short.startswith(marker) for marker in markers):
                return phase
    return OTHER


class PhaseSampler:
    """Samples the main thread in a daemon thread and sums wall time by phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._run, name="phase-sampler", daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(SAMPLE_SECONDS):
            frame = sys._current_frames().get(self._main)
            now = time.perf_counter()
            self.seconds[phase_of(frame)] += now - last
            last = now

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return dict(self.seconds)


def _render_figures_on_show() -> None:
    """``plt.show()`` renders every open figure to PNG and closes it, as the inline backend does."""
    import matplotlib.pyplot as plt

    def show(*_args: object, **_kwargs: object) -> None:
        for number in plt.get_fignums():
            figure = plt.figure(number)
            figure.savefig(io.BytesIO(), format="png")
            plt.close(figure)

    plt.show = show
    atexit.register(show)  # figures a chapter leaves open are rendered at its end, as the notebook would


def start(output: str) -> None:
    """Sample this process from now on; write the phase totals to ``output`` (JSON) when it exits."""
    sampler = PhaseSampler()
    sampler.start()

    def write() -> None:
        Path(output).write_text(json.dumps(sampler.stop(), indent=1))

    atexit.register(write)  # registered first, so it runs last: after the figures left open are rendered
    _render_figures_on_show()
