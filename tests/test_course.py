"""The course kit: every chapter's exercises become Otter-Grader questions whose checks fail blank and pass solved.

``scripts/course.sh`` writes a student and an instructor notebook per chapter. Here each is
run top to bottom with the chapter's smoke parameters: with the solutions blank every
check must fail, with the reference solutions every check must pass. The grades are read
through Otter's own ``grader.check``, as a student would see them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest
from test_notebooks import CHAPTERS, NEEDS_ADULT, SMOKE_PARAMETERS

from fedutils import course

ROOT = Path(__file__).resolve().parents[1]
MIN_EXERCISES = 3
GRADES_FILE = "grades.json"


@pytest.fixture(scope="session")
def built_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("course")
    before = {path: path.read_bytes() for path in CHAPTERS}
    course.build_course(CHAPTERS, out)
    assert {path: path.read_bytes() for path in CHAPTERS} == before, "building the course must not edit a chapter"
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_enough_checked_exercises(path):
    exercises = course.chapter_exercises(nbformat.read(path, as_version=4))
    assert len(exercises) >= MIN_EXERCISES
    for exercise in exercises:
        assert exercise.solution_cells, f"{exercise.label} has no reference solution"
        assert exercise.answer_names, f"{exercise.label}'s checks read nothing its solution defines"


def test_the_course_has_a_student_and_an_instructor_notebook_per_chapter(built_course):
    for path in CHAPTERS:
        for version in (course.STUDENT, course.INSTRUCTOR):
            notebook = built_course / path.stem / version / path.name
            assert notebook.is_file(), f"{notebook} was not written"
        student = nbformat.read(built_course / path.stem / course.STUDENT / path.name, as_version=4)
        text = "\n".join(cell.source for cell in student.cells)
        assert "grader.check(" in text
        assert "# BEGIN SOLUTION" not in text and "exercises.check_" not in text, "a solution leaked"
        extras = re.search(r'"fedutils\[([\w,]+)\] @ git\+', text)
        assert extras and "course" in extras.group(1).split(","), "the Colab cell must install Otter-Grader"
    assert any((built_course / CHAPTERS[0].stem / course.INSTRUCTOR).glob("*.zip")), "no autograder.zip"


def _tiny_chapter(check: str | None, imports: str = "from fedutils.exercises import explicit_boosting as exercises"):
    cells = [
        nbformat.v4.new_code_cell(imports),
        nbformat.v4.new_markdown_cell(
            "```{exercise-start}\n:label: ex-tiny\n```\n**Tiny.** Store 2 in `x`.\n```{exercise-end}\n```"
        ),
        nbformat.v4.new_markdown_cell("```{solution-start} ex-tiny\n:class: dropdown\n```\nTwo."),
        nbformat.v4.new_code_cell("x = 2"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
    ]
    if check is not None:
        cells.append(nbformat.v4.new_code_cell(check, metadata={"tags": [course.CHECK_TAG]}))
    return nbformat.v4.new_notebook(cells=cells)


def test_an_exercise_is_read_with_its_answer_names_and_becomes_an_otter_question():
    chapter = _tiny_chapter("exercises.check_smallest_boost(x, attacked)")
    (exercise,) = course.chapter_exercises(chapter)
    assert exercise.label == "ex-tiny" and exercise.answer_names == (
        "x",
    )  # attacked is the chapter's, not the answer's
    master = course.otter_master(chapter, "tiny")
    sources = [cell.source for cell in master.cells]
    assert sources[0].startswith("# ASSIGNMENT CONFIG") and "# BEGIN QUESTION\nname: ex-tiny\npoints: 1" in sources
    test = next(s for s in sources if s.startswith("def test_ex_tiny_1(x, attacked):"))
    assert "from fedutils.exercises import explicit_boosting as exercises" in test
    assert "# BEGIN SOLUTION\nx = 2\n# END SOLUTION" in sources


def test_an_exercise_without_a_check_or_with_an_unimported_check_is_refused():
    with pytest.raises(course.CourseError, match="no cell tagged"):
        course.chapter_exercises(_tiny_chapter(None))
    with pytest.raises(course.CourseError, match="not imported"):
        course.otter_master(_tiny_chapter("exercises.check_smallest_boost(x)", imports="import math"), "tiny")


def test_a_check_cell_that_is_not_one_call_is_refused():
    with pytest.raises(course.CourseError, match="one call"):
        course._check_call("x = exercises.check_something(a)")


@pytest.mark.book
@pytest.mark.parametrize("version", [course.STUDENT, course.INSTRUCTOR])
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_checks_fail_blank_and_pass_solved(path, version, built_course, tmp_path, request):
    folder = tmp_path / version
    shutil.copytree(built_course / path.stem / version, folder)
    labels = [exercise.label for exercise in course.chapter_exercises(nbformat.read(path, as_version=4))]
    notebook = nbformat.read(folder / path.name, as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            f"import json\njson.dump({{q: grader.check(q).grade for q in {labels!r}}}, open({GRADES_FILE!r}, 'w'))"
        )
    )
    graded = folder / f"graded_{path.name}"
    nbformat.write(notebook, graded)
    parameters = dict(SMOKE_PARAMETERS[path.stem])
    if path.stem == NEEDS_ADULT:
        parameters["data_root"] = str(request.getfixturevalue("adult_copy"))
    papermill.execute_notebook(
        str(graded), str(graded), parameters=parameters, cwd=str(folder), kernel_name="python3", progress_bar=False
    )
    grades = json.loads((folder / GRADES_FILE).read_text())
    assert set(grades) == set(labels)
    if version == course.STUDENT:
        assert all(grade == 0 for grade in grades.values()), f"a blank answer passed: {grades}"
    else:
        assert all(grade == 1 for grade in grades.values()), f"a reference solution failed: {grades}"


def test_the_course_guide_is_in_the_book_and_lists_every_exercise(tmp_path):
    path = ROOT / "appendix" / "course_guide.ipynb"
    toc = (ROOT / "_toc.yml").read_text()
    assert "appendix/course_guide" in toc
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert all(not c.outputs and c.execution_count is None for c in notebook.cells if c.cell_type == "code")
    executed = tmp_path / path.name
    papermill.execute_notebook(
        str(path), str(executed), cwd=str(path.parent), kernel_name="python3", progress_bar=False
    )
    shown = "".join(
        "".join(output.get("text", ""))
        for cell in nbformat.read(executed, as_version=4).cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert f"exercises in {len(CHAPTERS)} chapters" in shown
