"""The course kit on every chapter: each exercise's checks fail blank and pass solved.

``scripts/course.sh`` (:mod:`tools.course`) writes a student and an instructor notebook per chapter.
Here each is run top to bottom with the chapter's smoke parameters: with the solutions blank every
check must fail, with the reference solutions every check must pass. The grades are read through
Otter's own ``grader.check``, as a student would see them. The two copies read the federations the
chapter's own test trained from its run cache (``tests/chapter_support.py``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from chapter_support import CHAPTERS, chapter_group, chapter_parameters, execute

from fedutils.book.course import chapter_exercises
from tools import course

MIN_EXERCISES = 3
GRADES_FILE = "grades.json"


@pytest.fixture(scope="session")
def built_course(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """The course kit's folder of a chapter (its student and instructor notebooks), built once per test process
    on first use: each test process builds only the chapters it runs."""
    out = tmp_path_factory.mktemp("course")
    built: dict[Path, Path] = {}

    def build(chapter: Path) -> Path:
        if chapter not in built:
            before = chapter.read_bytes()
            (built[chapter],) = course.build_course([chapter], out)
            assert chapter.read_bytes() == before, "building the course must not edit a chapter"
        return built[chapter]

    return build


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_enough_checked_exercises(path):
    exercises = chapter_exercises(nbformat.read(path, as_version=4))
    assert len(exercises) >= MIN_EXERCISES
    for exercise in exercises:
        assert exercise.solution_cells, f"{exercise.label} has no reference solution"
        assert exercise.answer_names, f"{exercise.label}'s checks read nothing its solution defines"


@pytest.mark.book
@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=chapter_group(p)) for p in CHAPTERS])
def test_the_course_has_a_student_and_an_instructor_notebook_per_chapter(path, built_course):
    folder = built_course(path)
    for version in (course.STUDENT, course.INSTRUCTOR):
        notebook = folder / version / path.name
        assert notebook.is_file(), f"{notebook} was not written"
    student = nbformat.read(folder / course.STUDENT / path.name, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    assert "grader.check(" in text
    assert "# BEGIN SOLUTION" not in text and "exercises.check_" not in text, "a solution leaked"
    extras = re.search(r'"fedutils\[([\w,]+)\] @ git\+', text)
    assert extras and "course" in extras.group(1).split(","), "the Colab cell must install Otter-Grader"
    assert any((folder / course.INSTRUCTOR).glob("*.zip")), "no autograder.zip"


@pytest.mark.book
@pytest.mark.parametrize("version", [course.STUDENT, course.INSTRUCTOR])
@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=chapter_group(p)) for p in CHAPTERS])
def test_checks_fail_blank_and_pass_solved(path, version, built_course, tmp_path, request, chapter_cache):
    chapter_cache(path)
    folder = tmp_path / version
    shutil.copytree(built_course(path) / version, folder)
    labels = [exercise.label for exercise in chapter_exercises(nbformat.read(path, as_version=4))]
    notebook = nbformat.read(folder / path.name, as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            f"import json\njson.dump({{q: grader.check(q).grade for q in {labels!r}}}, open({GRADES_FILE!r}, 'w'))"
        )
    )
    graded = folder / f"graded_{path.name}"
    nbformat.write(notebook, graded)
    execute(graded, graded, chapter_parameters(path, request), folder)
    grades = json.loads((folder / GRADES_FILE).read_text())
    assert set(grades) == set(labels)
    if version == course.STUDENT:
        assert all(grade == 0 for grade in grades.values()), f"a blank answer passed: {grades}"
    else:
        assert all(grade == 1 for grade in grades.values()), f"a reference solution failed: {grades}"


@pytest.mark.book
def test_the_course_guide_is_in_the_book_and_lists_every_exercise(tmp_path):
    path = Path(__file__).resolve().parents[2] / "appendix" / "course_guide.ipynb"
    toc = (path.parents[1] / "_toc.yml").read_text()
    assert "appendix/course_guide" in toc
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert all(not c.outputs and c.execution_count is None for c in notebook.cells if c.cell_type == "code")
    cells = execute(path, tmp_path / path.name, {}, path.parent)
    shown = "".join(
        "".join(output.get("text", "")) for cell in cells if cell["cell_type"] == "code" for output in cell["outputs"]
    )
    assert f"exercises in {len(CHAPTERS)} chapters" in shown
