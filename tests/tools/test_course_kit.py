"""The course kit's parts: a chapter's exercises become Otter Assign questions, and malformed ones are refused."""

from __future__ import annotations

import nbformat
import pytest

from fedutils.book.course import CHECK_TAG, CourseError, chapter_exercises, check_call
from tools import course


def _tiny_chapter(
    check: str | None, imports: str = "from fedutils.book.exercises import explicit_boosting as exercises"
):
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
        cells.append(nbformat.v4.new_code_cell(check, metadata={"tags": [CHECK_TAG]}))
    return nbformat.v4.new_notebook(cells=cells)


def test_an_exercise_is_read_with_its_answer_names_and_becomes_an_otter_question():
    chapter = _tiny_chapter("exercises.check_smallest_boost(x, attacked)")
    (exercise,) = chapter_exercises(chapter)
    assert exercise.label == "ex-tiny" and exercise.answer_names == ("x",)  # attacked is the chapter's
    master = course.otter_master(chapter, "tiny")
    sources = [cell.source for cell in master.cells]
    assert sources[0].startswith("# ASSIGNMENT CONFIG") and "# BEGIN QUESTION\nname: ex-tiny\npoints: 1" in sources
    test = next(s for s in sources if s.startswith("def test_ex_tiny_1(x, attacked):"))
    assert "from fedutils.book.exercises import explicit_boosting as exercises" in test
    assert "# BEGIN SOLUTION\nx = 2\n# END SOLUTION" in sources


def test_an_exercise_without_a_check_or_with_an_unimported_check_is_refused():
    with pytest.raises(CourseError, match="no cell tagged"):
        chapter_exercises(_tiny_chapter(None))
    with pytest.raises(CourseError, match="not imported"):
        course.otter_master(_tiny_chapter("exercises.check_smallest_boost(x)", imports="import math"), "tiny")


def test_a_check_cell_that_is_not_one_call_is_refused():
    with pytest.raises(CourseError, match="one call"):
        check_call("x = exercises.check_something(a)")
