"""tools/run_chapters.py: a chapter becomes a plain Python script that runs where IPython is missing."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import pytest

from tools import run_chapters

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "chapters").glob("*.ipynb"))


def _notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell('%pip install --quiet fedutils\nimport sys\nif "x" in sys.modules:\n    !ls'),
        nbformat.v4.new_code_cell("rounds = 4", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("display(never_run)"),
        nbformat.v4.new_code_cell('display(f"rounds: {rounds}")'),
    ]
    nbformat.write(notebook, path)
    return path


def test_a_chapter_runs_as_a_script_without_ipython(tmp_path, monkeypatch, capsys):
    script = run_chapters.chapter_script(_notebook(tmp_path / "probe.ipynb"), ["rounds = 2"])
    monkeypatch.setitem(sys.modules, "IPython", None)  # as on the GPU machine: importing IPython fails
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    exec(compile(script, "probe.py", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out == "rounds: 2\n"  # the injected value, after the parameters cell; magics skipped


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_chapter_becomes_valid_python(notebook):
    script = run_chapters.chapter_script(notebook, ['device = "cuda"'])
    tree = ast.parse(script)
    assigned_after_parameters = [
        node for node in tree.body if isinstance(node, ast.Assign) and ast.unparse(node) == "device = 'cuda'"
    ]
    assert len(assigned_after_parameters) == 1
