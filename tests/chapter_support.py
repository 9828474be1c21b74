"""The chapters as the tests run them: their smoke parameters, one run cache per chapter, and papermill.

A chapter is executed three times by the tests — as it is, and as the course
kit's student and instructor notebooks — always with the same small values
in its ``parameters`` cell. The three share one run cache folder
(:func:`chapter_cache`), so the first to run trains the chapter's
federations and the others read them back: what the two copies add to the
suite is their grading, not the training again. The three tests of a chapter
are one pytest-xdist group, so they run in one worker, one after another.
"""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

from tools.run_chapters import SMOKE_PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
NEEDS_ADULT = "09_adult"
"""The chapter that reads UCI Adult: it runs on the real files (the ``adult_copy`` fixture finds them)."""
EXECUTION_TIMEOUT = 600
"""The longest a cell of a smoke-sized chapter may run (seconds)."""


def chapter_group(path: Path) -> pytest.MarkDecorator:
    """The pytest-xdist group of a chapter's tests (the chapter and its course copies share one worker)."""
    return pytest.mark.xdist_group(name=path.stem)


def chapter_parameters(path: Path, request: pytest.FixtureRequest) -> dict[str, object]:
    """The chapter's smoke parameters, with the real Adult files' folder where the chapter needs it."""
    parameters = dict(SMOKE_PARAMETERS[path.stem])
    if path.stem == NEEDS_ADULT:
        parameters["data_root"] = str(request.getfixturevalue("adult_copy"))
    return parameters


def execute(notebook: Path, output: Path, parameters: dict[str, object], cwd: Path) -> list[dict]:
    """Run ``notebook`` top to bottom with ``parameters`` injected; the executed cells."""
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        cwd=str(cwd),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=EXECUTION_TIMEOUT,
    )
    return json.loads(output.read_text())["cells"]
