"""The chapters' exercises as data: read from a chapter, listed for the course guide.

A chapter is the single source of its exercises. In the chapter, each exercise is

1. a Markdown cell opening with ``{exercise-start}`` (its ``:label:``) that states the task and
   names the variables the answer must define;
2. a ``{solution-start}`` … ``{solution-end}`` block: the explanation (Markdown) and the reference
   solution (code cells), folded away in the rendered book;
3. one or more code cells tagged ``exercise-check`` right after the block, each a single call of a
   check from :mod:`fedutils.book.exercises`, e.g. ``exercises.check_smallest_boost(smallest_boost, attacked)``.

:func:`chapter_exercises` reads them and :func:`exercise_table` lists them (the course guide's
table). The course kit that turns them into Otter-Grader student and instructor notebooks is a
repository tool, ``tools/course.py``. Reading a chapter file needs ``nbformat`` (Jupyter's), which
the book's install has and a plain ``pip install fedutils`` does not; it is imported only then.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from fedutils.errors import FedutilsError

if TYPE_CHECKING:
    import nbformat

CHECK_TAG = "exercise-check"


EXERCISE_START = "{exercise-start}"


EXERCISE_END = "{exercise-end}"


SOLUTION_START = "{solution-start}"


SOLUTION_END = "{solution-end}"


_LABEL = re.compile(r"^:label:\s*(\S+)\s*$", re.MULTILINE)


_FENCE = re.compile(r"^```\s*$")


class CourseError(FedutilsError):
    """A chapter's exercises are not in the form the course builder reads."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter: its statement, reference solution and checks."""

    label: str
    statement: str
    explanation: str
    solution_cells: tuple[nbformat.NotebookNode, ...]
    check_cells: tuple[nbformat.NotebookNode, ...]
    cells: range
    """The indices of the chapter's cells it spans: statement, solution block and checks."""

    @property
    def answer_names(self) -> tuple[str, ...]:
        """The variables the checks read that the solution defines: what a student's answer must define."""
        defined = set().union(*(_assigned_names(cell.source) for cell in self.solution_cells))
        read = [name for cell in self.check_cells for name in check_call_names(cell.source)]
        return tuple(dict.fromkeys(name for name in read if name in defined))


def _directive_body(source: str, closing: str | None) -> str:
    """The text of a MyST directive cell without its opening fence (and without ``closing``'s fence)."""
    lines = source.splitlines()
    body_start = next((i + 1 for i, line in enumerate(lines[1:], start=1) if _FENCE.match(line)), len(lines))
    body = lines[body_start:]
    if closing is not None:
        end = next((i for i, line in enumerate(body) if closing in line), len(body))
        body = body[:end]
    return "\n".join(body).strip()


def _assigned_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(without_magics(source))):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def without_magics(source: str) -> str:
    """The cell's source with IPython's ``%magic`` and ``!shell`` lines made ``pass``, so that it parses."""
    lines = source.splitlines()
    return "\n".join(
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in lines
    )


def check_call(source: str) -> ast.Call:
    tree = ast.parse(source)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr) or not isinstance(tree.body[0].value, ast.Call):
        raise CourseError(f"a cell tagged {CHECK_TAG!r} must be one call of a check, not {source.strip()!r}")
    return tree.body[0].value


def check_call_names(source: str) -> list[str]:
    call = check_call(source)
    arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
    names = [node.id for argument in arguments for node in ast.walk(argument) if isinstance(node, ast.Name)]
    return list(dict.fromkeys(names))


def root_name(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    if not isinstance(node, ast.Name):
        raise CourseError(f"a check must be called through a module or function name, not {ast.unparse(node)!r}")
    return node.id


def chapter_exercises(chapter: nbformat.NotebookNode) -> list[Exercise]:
    """The exercises of a chapter, in order (see the module's docstring for their form)."""
    cells = chapter.cells
    exercises: list[Exercise] = []
    i = 0
    while i < len(cells):
        cell = cells[i]
        if cell.cell_type != "markdown" or not cell.source.startswith(f"```{EXERCISE_START}"):
            i += 1
            continue
        match = _LABEL.search(cell.source)
        if match is None:
            raise CourseError(f"an exercise has no :label: (it begins {cell.source[:60]!r})")
        label = match.group(1)
        statement = _directive_body(cell.source, EXERCISE_END)
        start = i
        i += 1
        if i >= len(cells) or not cells[i].source.startswith(f"```{SOLUTION_START} {label}"):
            raise CourseError(f"exercise {label!r} must be followed by its {SOLUTION_START} cell")
        explanation = _directive_body(cells[i].source, None)
        i += 1
        solution: list[nbformat.NotebookNode] = []
        while i < len(cells) and not cells[i].source.startswith(f"```{SOLUTION_END}"):
            if cells[i].cell_type == "code":
                solution.append(cells[i])
            i += 1
        i += 1
        checks: list[nbformat.NotebookNode] = []
        while i < len(cells) and CHECK_TAG in cells[i].metadata.get("tags", []):
            checks.append(cells[i])
            i += 1
        if not checks:
            raise CourseError(f"exercise {label!r} has no cell tagged {CHECK_TAG!r} after its solution")
        exercises.append(Exercise(label, statement, explanation, tuple(solution), tuple(checks), range(start, i)))
    return exercises


_TITLE = re.compile(r"^\*\*(.+?)\*\*")


def exercise_table(chapters: Sequence[Path]) -> pd.DataFrame:
    """One row per exercise of ``chapters``: its chapter, label, title (the statement's bold opening),
    the variables a student's answer defines, and how many checks grade it (the course guide's table)."""
    rows = []
    for path in chapters:
        for exercise in chapter_exercises(read_chapter(path)):
            title = _TITLE.match(exercise.statement)
            rows.append(
                {
                    "chapter": path.stem,
                    "exercise": exercise.label,
                    "title": title.group(1).rstrip(".") if title else "",
                    "answer defines": ", ".join(exercise.answer_names),
                    "checks": len(exercise.check_cells),
                }
            )
    return pd.DataFrame(rows)


def read_chapter(path: Path) -> nbformat.NotebookNode:
    """A chapter notebook, read with ``nbformat``.

    Raises:
        CourseError: ``nbformat`` is not installed (a plain ``pip install fedutils``).
    """
    try:
        import nbformat
    except ModuleNotFoundError:
        raise CourseError("reading a chapter needs nbformat (Jupyter's): pip install nbformat") from None
    return nbformat.read(path, as_version=4)
