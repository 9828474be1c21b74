"""The chapters: stripped sources in the table of contents, and a smoke run of each on real data.

Each chapter runs top to bottom through papermill with small values injected
into its ``parameters`` cell (``chapter_support.SMOKE_PARAMETERS``: the ``smoke``
preset, 200 real Fashion-MNIST images per agent, two rounds, one seed; for
Chapter 9, 300 real Adult rows per agent), so this proves the wiring, not the
results. Chapters 3, 7 and 10 run with the stacked executor, the others with
the default. The federations a chapter trains stay in its run cache for its
course copies (``tests/chapters/test_course_notebooks.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml
from chapter_support import CHAPTERS, ROOT, SMOKE_PARAMETERS, chapter_group, chapter_parameters, execute
from papermill.translators import PythonTranslator

COLAB_GUARD = '"google.colab" in sys.modules'


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


@pytest.mark.book
@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=chapter_group(p)) for p in CHAPTERS])
def test_chapter_runs_with_smoke_parameters(path, tmp_path, request, chapter_cache):
    chapter_cache(path)
    _assert_ran_and_drew(execute(path, tmp_path / path.name, chapter_parameters(path, request), path.parent))


@pytest.mark.parametrize("path", [pytest.param(CHAPTERS[0], id=CHAPTERS[0].stem, marks=chapter_group(CHAPTERS[0]))])
def test_a_chapters_tests_are_sent_to_one_worker(path, request):
    """Under ``--dist loadgroup`` (``scripts/test.sh``) pytest-xdist sends a chapter's group to one worker, or
    the course copies would find an empty run cache and train the chapter's runs again."""
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("only pytest-xdist's --dist loadgroup groups tests (scripts/test.sh uses it)")
    assert request.node.nodeid.endswith(f"@{path.stem}"), (
        "pytest-xdist ignored the chapter's xdist_group (pytest-dev/pytest-xdist#1386 on pytest 9.2): "
        "keep pytest below the version pyproject.toml names"
    )


@pytest.mark.book
def test_the_appendix_study_page_is_stripped_and_runs(tmp_path):
    """The network study's page reads only recorded results, so it runs whole in the tests."""
    path = ROOT / "appendix" / "network_study.ipynb"
    assert "appendix/network_study" in _toc_files()
    nbformat.validate(nbformat.read(path, as_version=4))
    assert all(not c.outputs and c.execution_count is None for c in _code_cells(path))
    _assert_ran_and_drew(execute(path, tmp_path / path.name, {}, path.parent))


def _assert_ran_and_drew(cells: list[dict]) -> None:
    errors = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors
    for cell in cells:
        draws = cell["cell_type"] == "code" and "plots." in "".join(cell["source"]).replace("plots.use_book_style", "")
        if draws:
            shown = [o for o in cell["outputs"] if "image/png" in o.get("data", {})]
            assert shown, f"a cell that draws shows no figure: {''.join(cell['source'])[:80]!r}"
