"""What every exercise check shares: the verdicts, and the tests that an answer is there at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedutils.results import RunResult


class AnswerError(AssertionError):
    """An exercise's answer is missing or wrong; the message says what and why, in one sentence."""


@dataclass(frozen=True)
class Passed:
    """A check that passed, with what it verified (shown under the check's cell in the book)."""

    message: str

    def __repr__(self) -> str:
        return f"✓ {self.message}"

    def _repr_markdown_(self) -> str:
        return f"✓ {self.message}"


def require_answer(value: Any, name: str) -> Any:
    """``value`` itself, or :class:`AnswerError` if the answer cell has not set it (``None`` or ``...``)."""
    if value is None or value is Ellipsis:
        raise AnswerError(f"`{name}` has no answer yet: set it in the answer cell above this check.")
    return value


def require_run(value: Any, name: str, *, attack: str | None = None) -> RunResult:
    """``value`` as a finished run, or :class:`AnswerError`; with ``attack``, the run must use that attack."""
    value = require_answer(value, name)
    if not isinstance(value, RunResult):
        raise AnswerError(f"`{name}` must be the result of run_experiment(...), not a {type(value).__name__}.")
    used = (value.config.get("attack") or {}).get("name")
    if attack is not None and used != attack:
        raise AnswerError(f"`{name}` must be a run with the {attack} attack, but it ran with {used or 'no attack'}.")
    return value
