"""What every exercise check shares: the verdicts, and the tests that an answer is there at all."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fedutils.records import RunResult


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
    used = attack_name(value)
    if attack is not None and used != attack:
        raise AnswerError(f"`{name}` must be a run with the {attack} attack, but it ran with {used or 'no attack'}.")
    return value


def attack_name(run: RunResult) -> str | None:
    """The name of ``run``'s attack, or ``None`` for an honest federation."""
    return None if run.config.attack is None else run.config.attack.name


def require_number(value: Any, name: str, unit: str = "a number") -> float:
    """``value`` as a finite float, or :class:`AnswerError` naming ``unit`` (e.g. "accuracy points")."""
    value = require_answer(value, name)
    if isinstance(value, bool):
        raise AnswerError(f"`{name}` must be {unit}, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnswerError(f"`{name}` must be {unit}, not a {type(value).__name__}.") from None
    if math.isnan(number):
        raise AnswerError(f"`{name}` is NaN: compute it from the runs' records.")
    return number


def round_list(value: Any, name: str) -> list[int]:
    """An answer that lists rounds (a list, tuple, set, Index …), as sorted distinct whole numbers."""
    value = require_answer(value, name)
    if isinstance(value, str | bytes | bool | int | float):
        raise AnswerError(f"`{name}` must list round numbers (e.g. [2, 3], or [] for none), not {value!r}.")
    try:
        rounds = {int(item) for item in value}
    except (TypeError, ValueError):
        raise AnswerError(f"`{name}` must list round numbers (e.g. [2, 3], or [] for none), not {value!r}.") from None
    return sorted(rounds)


def differing_settings(run: RunResult, reference: RunResult, free: Iterable[str]) -> list[str]:
    """The configuration entries in which ``run`` differs from ``reference``, apart from the ``free`` ones."""
    mine, theirs = run.config_dict, reference.config_dict
    keys = (set(mine) | set(theirs)) - set(free)
    return sorted(key for key in keys if mine.get(key) != theirs.get(key))


def require_same_settings(
    run: RunResult, name: str, reference: RunResult, reference_name: str, free: Iterable[str]
) -> None:
    """:class:`AnswerError` unless ``run`` is ``reference``'s experiment up to the ``free`` settings: a run
    with another seed, preset or option would make the exercise's comparison unfair."""
    differing = differing_settings(run, reference, free)
    if differing:
        raise AnswerError(
            f"`{name}` must be `{reference_name}`'s experiment with only the exercise's change (start from its "
            f"configuration), but it also changes {', '.join(differing)}."
        )


def require_mapping(
    value: Any,
    name: str,
    keys: Sequence[Any],
    convert_key: Callable[[Any], Any],
    convert_value: Callable[[Any], Any],
    *,
    key_label: str,
    value_label: str,
) -> dict[Any, Any]:
    """The answer as a dict over exactly ``keys`` (a dict, or a pandas Series indexed by them), with keys and
    values converted; :class:`AnswerError` naming ``key_label`` and ``value_label`` otherwise."""
    value = require_answer(value, name)
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()  # a pandas Series
    if not isinstance(value, Mapping):
        raise AnswerError(
            f"`{name}` must map each {key_label} to {value_label} (a dict), not a {type(value).__name__}."
        )
    try:
        answer = {convert_key(k): convert_value(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise AnswerError(f"`{name}` must map each {key_label} to {value_label}.") from None
    if sorted(answer) != sorted(keys):
        raise AnswerError(f"`{name}` must have one entry for each {key_label} in {list(keys)}, not {sorted(answer)}.")
    return answer
