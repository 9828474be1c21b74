"""The chapters: stripped sources in the table of contents, and a smoke run of each on real data.

Each chapter runs top to bottom through papermill with small values injected
into its ``parameters`` cell (the ``smoke`` preset: 200 real Fashion-MNIST
images per agent, two rounds, one seed; for Chapter 9, 300 real Adult rows per
agent), so this proves the wiring, not the results. Chapters 3, 7 and 10
run with the stacked executor, the others with the default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml
from papermill.translators import PythonTranslator

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
COLAB_GUARD = '"google.colab" in sys.modules'

SMOKE_PARAMETERS: dict[str, dict[str, object]] = {
    "01_fedavg": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "02_explicit_boosting": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "03_stealth_checks": {
        "preset_name": "smoke",
        "max_rounds": 2,
        "calibration_seeds": [0],
        "histogram_round": 2,
        "device": "cpu",
        "executor": "batched",  # the stacked path, beside the default (parallel on two cores)
    },
    "04_stealthy": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "05_alternating": {"preset_name": "smoke", "max_rounds": 2, "device": "cpu"},
    "06_estimation": {
        "preset_name": "smoke",
        "seeds": [0],
        "alternating_seeds": [0],
        "table_rounds": [2],
        "chapter_rounds": 2,
        "device": "cpu",
    },
    "07_robust_aggregation": {
        "preset_name": "smoke",
        "samples_per_agent": 200,
        "paper_rounds": 2,
        "matrix_rounds": 2,
        "boosts": [1.0, 10.0],
        "device": "cpu",
        "executor": "batched",  # the stacked path, beside the default (parallel on two cores)
    },
    "08_interpretability": {
        "preset_name": "smoke",
        "samples_per_agent": 200,
        "rounds": 2,
        "grid_images": 1,
        "similarity_images": 5,
        "device": "cpu",
    },
    "09_adult": {
        "rounds": 2,
        "stealth_rounds": 2,
        "histogram_round": 2,
        "samples_per_agent": 300,
        "data_root": None,  # the folder of the adult_copy fixture
        "device": "cpu",
    },
    "10_scale": {
        "preset_name": "smoke",
        "many_rounds": 2,
        "samples_per_agent": 200,
        "target_rounds": 2,
        "dirichlet_alphas": [1.0],
        "dirichlet_rounds": 2,
        "device": "cpu",
        "executor": "batched",  # the stacked path, beside the default (parallel on two cores)
    },
    "11_flower": {"preset_name": "smoke", "rounds": 2, "samples_per_agent": 200, "device": "cpu"},
}


def _code_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]


def test_every_chapter_is_in_the_toc_and_has_smoke_parameters():
    chapters = {f"chapters/{p.stem}" for p in CHAPTERS}
    assert chapters == {f for f in _toc_files() if f.startswith("chapters/")}
    assert {p.stem for p in CHAPTERS} == set(SMOKE_PARAMETERS)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_source_is_stripped_and_well_formed(path):
    nbformat.validate(nbformat.read(path, as_version=4))
    cells = _code_cells(path)
    assert all(not c.outputs and c.execution_count is None for c in cells), "strip outputs before committing"
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    first = cells[0]
    assert COLAB_GUARD in first.source and "pip install" in first.source, "first code cell installs only in Colab"
    for name in SMOKE_PARAMETERS[path.stem]:
        assert f"{name} =" in tagged[0].source, f"smoke parameter {name} is not in the parameters cell"
    # papermill reads each parameter's line itself (for `papermill --help-notebook` and its warnings):
    # an "=" inside a comment makes it give up on that line.
    assigned = re.findall(r"^(\w+) =", tagged[0].source, re.MULTILINE)
    assert [p.name for p in PythonTranslator.inspect(tagged[0])] == assigned, "papermill cannot parse a parameter"


NEEDS_ADULT = "09_adult"
"""The chapter that reads UCI Adult: it runs on the real files (the ``adult_copy`` fixture finds them)."""


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_with_smoke_parameters(path, tmp_path, request):
    parameters = dict(SMOKE_PARAMETERS[path.stem])
    if path.stem == NEEDS_ADULT:
        parameters["data_root"] = str(request.getfixturevalue("adult_copy"))
    _assert_ran_and_drew(_execute(path, tmp_path, parameters))


def test_the_appendix_study_page_is_stripped_and_runs(tmp_path):
    """The network study's page reads only recorded results, so it runs whole in the tests."""
    path = ROOT / "appendix" / "network_study.ipynb"
    assert "appendix/network_study" in _toc_files()
    nbformat.validate(nbformat.read(path, as_version=4))
    assert all(not c.outputs and c.execution_count is None for c in _code_cells(path))
    _assert_ran_and_drew(_execute(path, tmp_path, {}))


def _execute(path: Path, tmp_path: Path, parameters: dict[str, object]) -> list[dict]:
    executed = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(executed),
        parameters=parameters,
        cwd=str(path.parent),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=600,
    )
    return json.loads(executed.read_text())["cells"]


def _assert_ran_and_drew(cells: list[dict]) -> None:
    errors = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors
    for cell in cells:
        draws = cell["cell_type"] == "code" and "plots." in "".join(cell["source"]).replace("plots.use_book_style", "")
        if draws:
            shown = [o for o in cell["outputs"] if "image/png" in o.get("data", {})]
            assert shown, f"a cell that draws shows no figure: {''.join(cell['source'])[:80]!r}"
