"""The course kit: student and instructor notebooks built from the book's chapters with Otter-Grader.

A chapter is the single source of its exercises, in the form :mod:`fedutils.book.course` reads
(a statement, a folded reference solution, and cells that each call one check of
:mod:`fedutils.book.exercises`).

:func:`otter_master` turns a chapter into an Otter Assign master notebook (every exercise a
question whose solution is the reference solution and whose test calls the same check), and
:func:`build_course` runs ``otter assign`` on it: the *student* notebook has the solutions
removed and ``grader.check(...)`` cells in their place, the *instructor* notebook keeps the
solutions, and ``autograder.zip`` grades submissions (``otter grade`` or ``otter run``). The
chapters themselves are only read.

Otter-Grader was chosen over nbgrader because its student checks run anywhere a notebook runs
(Jupyter, VS Code, Colab with test files served from a URL) without a server extension or a
course database, and because its exception-based tests can call :mod:`fedutils.book.exercises`
directly, so the book and the grader run the same checks.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat
import yaml

from fedutils.book.course import (
    CourseError,
    Exercise,
    chapter_exercises,
    check_call,
    check_call_names,
    root_name,
    without_magics,
)
from fedutils.errors import FedutilsError

COLAB_GUARD = '"google.colab" in sys.modules'


BOOK_REQUIREMENT = re.compile(r'"fedutils(?:\[([\w,]*)\])? @ git\+')
"""The Colab cell's requirement of fedutils, with the chapter's extras (if any) in group 1."""


COURSE_EXTRA = "course"


STUDENT = "student"


INSTRUCTOR = "instructor"


_OTTER_SOLUTIONS = "autograder"  # the folder otter assign writes the solutions and autograder into


_IDENTIFIER_UNSAFE = re.compile(r"\W")


def _imports(chapter: nbformat.NotebookNode) -> dict[str, str]:
    """Each name bound by a top-level import in the chapter, with the statement that binds it."""
    bound: dict[str, str] = {}
    for cell in chapter.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.parse(without_magics(cell.source)).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    single = type(node)(**{**node.__dict__, "names": [alias]})
                    bound[alias.asname or alias.name.split(".")[0]] = ast.unparse(single)
    return bound


def _test_cell(check: str, label: str, number: int, imports: dict[str, str]) -> nbformat.NotebookNode:
    """An Otter exception-based test: a function of the notebook's variables that runs the chapter's check."""
    call = check_call(check)
    root = root_name(call.func)
    if root not in imports:
        raise CourseError(f"the check {ast.unparse(call.func)!r} of {label!r} is not imported in the chapter")
    names = ", ".join(check_call_names(check))
    function = f"test_{_IDENTIFIER_UNSAFE.sub('_', label)}_{number}"
    source = f"def {function}({names}):\n    {imports[root]}\n\n    {ast.unparse(call)}\n\n\n{function}({names})"
    return nbformat.v4.new_code_cell(source)


def _student_prompt(exercise: Exercise) -> str:
    names = ", ".join(f"`{name}`" for name in exercise.answer_names)
    where = f"\n\n*Your answer:* define {names} in the cell below; the next cell checks it." if names else ""
    return f"#### Exercise `{exercise.label}`\n\n{exercise.statement}{where}"


def _solution_code(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    solved = nbformat.v4.new_code_cell(f"# BEGIN SOLUTION\n{cell.source}\n# END SOLUTION")
    solved.metadata = dict(cell.metadata)
    return solved


def otter_master(
    chapter: nbformat.NotebookNode, name: str, tests_url_prefix: str | None = None
) -> nbformat.NotebookNode:
    """The Otter Assign master notebook of a chapter: its exercises as questions, everything else as is.

    The Colab install cell also installs Otter-Grader (``fedutils[course]``); with ``tests_url_prefix``
    the student notebook downloads its test files from there, which Colab needs.
    """
    by_start = {exercise.cells.start: exercise for exercise in chapter_exercises(chapter)}
    if not by_start:
        raise CourseError(f"the chapter {name!r} has no exercises")
    imports = _imports(chapter)
    raw = nbformat.v4.new_raw_cell
    tests: dict[str, object] = {"files": True, "ok_format": False}
    if tests_url_prefix:
        tests["url_prefix"] = tests_url_prefix
    config = {
        "name": name,
        "init_cell": True,
        "check_all_cell": False,
        "export_cell": False,
        "run_tests": False,
        "solutions_pdf": False,
        "generate": True,
        "tests": tests,
    }
    master = nbformat.v4.new_notebook(metadata=dict(chapter.metadata))
    master.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    master.metadata.setdefault("language_info", {"name": "python"})
    cells = [raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False))]
    spanned = {index for exercise in by_start.values() for index in exercise.cells}
    for index, cell in enumerate(chapter.cells):
        exercise = by_start.get(index)
        if exercise is not None:
            cells += [
                raw(f"# BEGIN QUESTION\nname: {exercise.label}\npoints: 1"),
                nbformat.v4.new_markdown_cell(_student_prompt(exercise)),
                raw("# BEGIN SOLUTION"),
            ]
            if exercise.explanation:
                cells.append(nbformat.v4.new_markdown_cell(exercise.explanation))
            cells += [_solution_code(code) for code in exercise.solution_cells]
            cells += [raw("# END SOLUTION"), raw("# BEGIN TESTS")]
            cells += [
                _test_cell(check.source, exercise.label, n, imports)
                for n, check in enumerate(exercise.check_cells, start=1)
            ]
            cells += [raw("# END TESTS"), raw("# END QUESTION")]
            continue
        if index in spanned:
            continue
        if cell.cell_type == "code" and COLAB_GUARD in cell.source:
            cell = nbformat.v4.new_code_cell(BOOK_REQUIREMENT.sub(_with_course_extra, cell.source))
        cells.append(cell)
    master.cells = cells
    return master


def _with_course_extra(requirement: re.Match[str]) -> str:
    """The Colab cell's requirement with the ``course`` extra added to the chapter's own (Otter-Grader)."""
    extras = {extra for extra in (requirement.group(1) or "").split(",") if extra} | {COURSE_EXTRA}
    return f'"fedutils[{",".join(sorted(extras))}] @ git+'


_ANSWER_CELL_TAG = "otter_answer_cell"


_CHECK_CALL = re.compile(r'^grader\.check\("([^"]+)"\)\s*$')


_SOLUTION_MARKER = re.compile(r"^\s*# (BEGIN|END) SOLUTION( NO PROMPT)?\s*$")


def _student_answer_cell(notebook: nbformat.NotebookNode, chapter: nbformat.NotebookNode) -> None:
    """Each question's last answer cell names what the check reads (``smallest_boost = ...``), so a blank
    answer is *missing* (Ellipsis) rather than an accidental ``None``."""
    names = {exercise.label: exercise.answer_names for exercise in chapter_exercises(chapter)}
    answer = None
    for cell in notebook.cells:
        if _ANSWER_CELL_TAG in cell.metadata.get("tags", []):
            answer = cell
        match = _CHECK_CALL.match(cell.source)
        if match and answer is not None:
            assignments = "\n".join(f"{name} = ..." for name in names[match.group(1)])
            answer.source = f"# Your answer: work it out here, then set what the check below reads.\n{assignments}"
            answer = None


def _without_solution_markers(notebook: nbformat.NotebookNode, chapter: nbformat.NotebookNode) -> None:
    """The instructor's solutions read as in the chapter: Otter's ``# BEGIN/END SOLUTION`` lines removed."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(line for line in cell.source.splitlines() if not _SOLUTION_MARKER.match(line))


def _finish(
    path: Path, edit: Callable[[nbformat.NotebookNode, nbformat.NotebookNode], None], chapter: nbformat.NotebookNode
) -> None:
    notebook = nbformat.read(path, as_version=4)
    edit(notebook, chapter)
    nbformat.write(notebook, path)


def build_course(
    chapters: Sequence[Path], out: Path, tests_url_prefix: str | None = None, otter: str | None = None
) -> list[Path]:
    """Write ``out/<chapter>/student`` and ``out/<chapter>/instructor`` for every chapter; return the chapter folders.

    ``otter`` is the ``otter`` command (by default the one beside this Python). The chapters are
    only read; the master notebooks go to ``out/masters``.
    """
    command = otter or str(Path(sys.executable).with_name("otter"))
    if shutil.which(command) is None:
        raise CourseError("otter-grader is not installed: pip install 'fedutils[course]'")
    masters = out / "masters"
    masters.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter_path in chapters:
        chapter = nbformat.read(chapter_path, as_version=4)
        master_path = masters / chapter_path.name
        nbformat.write(otter_master(chapter, chapter_path.stem, tests_url_prefix), master_path)
        target = out / chapter_path.stem
        shutil.rmtree(target, ignore_errors=True)
        result = subprocess.run([command, "assign", str(master_path), str(target)], capture_output=True, text=True)
        if result.returncode != 0:
            raise CourseError(f"otter assign failed on {chapter_path.name}: {result.stderr.strip().splitlines()[-1:]}")
        (target / _OTTER_SOLUTIONS).rename(target / INSTRUCTOR)
        _finish(target / STUDENT / chapter_path.name, _student_answer_cell, chapter)
        _finish(target / INSTRUCTOR / chapter_path.name, _without_solution_markers, chapter)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.course``: build the course notebooks (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.course",
        description="Write a student notebook (solutions removed, checks kept) and an instructor notebook "
        "(solutions, checks and an Otter autograder.zip) for every chapter. The chapters are only read.",
    )
    parser.add_argument("chapters", nargs="+", type=Path, help="chapter notebooks, e.g. chapters/*.ipynb")
    parser.add_argument("--out", type=Path, default=Path("_build/course"), help="where to write (default: %(default)s)")
    parser.add_argument(
        "--tests-url-prefix",
        help="a URL where the student test folders will be served; Colab needs it (Otter downloads the tests)",
    )
    args = parser.parse_args(argv)
    try:
        for folder in build_course(args.chapters, args.out, args.tests_url_prefix):
            print(f"course: {folder / STUDENT} and {folder / INSTRUCTOR}")
    except FedutilsError as error:
        print(f"python -m tools.course: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
