"""Named choices, and the helpers every options dataclass shares: normalising fields from their type hints,
looking an options class up by name, copying with some options changed, and the command-line flag a field
is set by (the command line is generated from these, :mod:`fedutils.cli`)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from fedutils.errors import ConfigError

T = TypeVar("T")

CLI_FLAG = "fedutils.cli_flag"
"""The key of a dataclass field's metadata that holds its :class:`CliFlag`."""


@dataclass(frozen=True)
class CliFlag:
    """How the command line sets one option (one field of an options dataclass).

    Attributes:
        flag: the flag, e.g. ``"--boost"``; several classes' fields may share one.
        help: one line on what the option does for this class (the default is added from the field).
        metavar: the placeholder in ``--help`` (e.g. ``"λ"``); ``None`` uses the field's name.
        words: the words the flag takes, mapped to the field's values (e.g. ``{"weights": True,
            "all": False}``); ``None`` takes the field's type (a number, or a :class:`Choice`'s values).
        count: how many whole numbers the flag takes for a tuple field (an attack's first and last round: 2);
            ``None``: one value.
    """

    flag: str
    help: str
    metavar: str | None = None
    words: Mapping[str, Any] | None = None
    count: int | None = None


def cli_flag(
    flag: str,
    help: str,
    *,
    metavar: str | None = None,
    words: Mapping[str, Any] | None = None,
    count: int | None = None,
) -> dict:
    """The metadata of a dataclass field that the command line sets with ``flag`` (see :class:`CliFlag`)."""
    return {CLI_FLAG: CliFlag(flag, help, metavar, words, count)}


class Choice(str, Enum):
    """A named option value: compares equal to its string and prints as it (e.g. ``"model_a"``)."""

    def __str__(self) -> str:
        return self.value


def normalise_fields(options: Any) -> None:
    """Coerce the fields of a frozen options dataclass in place, guided by their type hints.

    * a :class:`Choice` field given as a string becomes the member (one-sentence
      :class:`ConfigError` naming the allowed values otherwise);
    * a ``float`` field given as an ``int`` becomes a float, so that E = 1 and
      E = 1.0 are one experiment (and one cache key); anything else that is not a
      number is an error;
    * an ``int`` field given as an integral float becomes an int (5.0 steps from
      the command line are 5 steps).
    """
    hints = typing.get_type_hints(type(options))
    for field in dataclasses.fields(options):
        kinds = _kinds(hints[field.name])
        value = getattr(options, field.name)
        if value is None and type(None) in kinds:
            continue
        choice = next((k for k in kinds if isinstance(k, type) and issubclass(k, Choice)), None)
        if choice is not None:
            try:
                value = choice(value)
            except ValueError:
                allowed = ", ".join(m.value for m in choice)
                raise ConfigError(f"{field.name} must be one of {allowed}; got {value!r}.") from None
        elif float in kinds:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{field.name} must be a number, got {value!r}.")
            value = float(value)
        elif int in kinds and isinstance(value, float) and value.is_integer():
            value = int(value)
        object.__setattr__(options, field.name, value)


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """``registry[name]``, or a one-sentence :class:`ConfigError` naming the ``what`` choices."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(registry)}.") from None


def replace_options(options: T, changes: Mapping[str, Any], owner: str) -> T:
    """A copy of the frozen options dataclass ``options`` with ``changes`` applied (and validated again).

    Raises:
        ConfigError: a name in ``changes`` is not an option of ``owner``.
    """
    allowed = [f.name for f in dataclasses.fields(options)]  # type: ignore[arg-type]
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ConfigError(f"{', '.join(unknown)} does not apply to {owner}; its options: {', '.join(allowed)}.")
    return dataclasses.replace(options, **changes)  # type: ignore[type-var]


def require_positive(value: Any, name: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``value`` is a positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}.")


def require_positive_int(value: Any, name: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``value`` is an integer of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer of at least 1, got {value!r}.")


def require_non_negative(value: Any, name: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``value`` is a number ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{name} must be a number of at least 0, got {value!r}.")


def require_non_negative_int(value: Any, name: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``value`` is an integer ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be an integer ≥ 0, got {value!r}.")


def require_fraction(value: Any, name: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``value`` is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a fraction between 0 and 1, got {value!r}.")


def require_share(value: Any, name: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``value`` is a share of a whole: a number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"{name} must be a fraction in (0, 1], got {value!r}.")


def _kinds(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) if typing.get_args(hint) and typing.get_origin(hint) is not tuple else (hint,)
