"""Errors raised for user mistakes.

Every error that a user can cause (a bad option, a missing file) is a
:class:`FedutilsError` whose message is one sentence naming the option and
what is allowed. The command line prints that sentence and exits with status 2;
no traceback is shown for them.
"""

from __future__ import annotations


class FedutilsError(ValueError):
    """Base class of every error caused by bad input rather than by a bug."""


class ConfigError(FedutilsError):
    """An experiment option has a value outside what is allowed."""


class DataError(FedutilsError):
    """A dataset file is missing, truncated or corrupt."""
