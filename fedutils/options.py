"""The base of every named choice in a configuration."""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """A named option value: compares equal to its string and prints as it (e.g. ``"model_a"``)."""

    def __str__(self) -> str:
        return self.value
