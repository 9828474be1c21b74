"""Checks for the chapters' exercises: the same functions grade a student's notebook and run in the book.

Each chapter has a module here (``fedutils.book.exercises.explicit_boosting`` for Chapter 2, …)
whose ``check_*`` functions take the variables an exercise asks for, recompute what the
answer should be *from the student's own runs* (so an answer is judged on the seed, preset
and data the student used, never against one stored number), and either return a
:class:`Passed` note or raise :class:`AnswerError` with one sentence that says what is wrong
and why. :mod:`fedutils.book.course` turns each check into an Otter-Grader test.
"""

from fedutils.book.exercises.base import (
    AnswerError,
    Passed,
    differing_settings,
    require_answer,
    require_mapping,
    require_number,
    require_run,
    require_same_settings,
    round_list,
)

__all__ = [
    "AnswerError",
    "Passed",
    "differing_settings",
    "require_answer",
    "require_mapping",
    "require_number",
    "require_run",
    "require_same_settings",
    "round_list",
]
