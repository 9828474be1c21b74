"""The server's checks as one configuration section, and one round's inspection.

:class:`ServerChecks` is what an :class:`~fedutils.config.ExperimentConfig`
holds: which checks run, in which :class:`~fedutils.checks.base.CheckMode`,
and how much of the test split the server keeps for itself. Each round the
federation calls :meth:`ServerChecks.inspect` and aggregates the rows it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from fedutils.checks.accuracy import AccuracyCheck
from fedutils.checks.base import CheckMode, CheckOptions, RoundUpdates, ServerResources, Verdict
from fedutils.checks.distance import DistanceCheck
from fedutils.errors import ConfigError
from fedutils.options import cli_flag, lookup, normalise_fields, replace_options

CHECKS: dict[str, type[CheckOptions]] = {check.name: check for check in (AccuracyCheck, DistanceCheck)}
"""Check name → its options class."""

DEFAULT_HELD_OUT_SAMPLES = 1000
"""How many test examples (the last ones) the server keeps as its own validation data for accuracy checking."""


def check_options(name: str, **options: Any) -> CheckOptions:
    """The options of the check called ``name`` (see :data:`CHECKS`), with ``options`` set.

    Raises:
        ConfigError: unknown check, or an option it does not have or with a bad value.
    """
    return lookup(CHECKS, name, "check")().replace(**options)


@dataclass(frozen=True)
class Inspection:
    """One round's verdicts.

    Attributes:
        verdicts: check name → one verdict per update, in the order of the stack.
        keep: which updates the server aggregates (all of them when observing).
    """

    verdicts: dict[str, list[Verdict]]
    keep: torch.Tensor


@dataclass(frozen=True)
class ServerChecks:
    """The checks a careful server runs on every round's updates (Bhagoji et al. 2019, §3.3).

    Attributes:
        checks: the checks, each with its threshold (at most one of each kind).
        mode: ``observe`` records the verdicts and aggregates everything;
            ``filter`` leaves out every update that any check flags.
        held_out_samples: with an accuracy check, the server evaluates on the
            last N examples of the test split (targets excluded), and the run's
            reported validation accuracy uses only the examples before them, so
            no decision is taken on the data the book reports.
    """

    checks: tuple[CheckOptions, ...] = field(default_factory=lambda: (AccuracyCheck(), DistanceCheck()))
    mode: CheckMode = field(
        default=CheckMode.OBSERVE,
        metadata=cli_flag(
            "--check-mode", "observe: record the verdicts, aggregate everything; filter: leave flagged updates out"
        ),
    )
    held_out_samples: int = field(
        default=DEFAULT_HELD_OUT_SAMPLES,
        metadata=cli_flag(
            "--held-out",
            "with the accuracy check, the server keeps the last N test examples as its own data",
            metavar="N",
        ),
    )

    def __post_init__(self) -> None:
        normalise_fields(self)
        checks = tuple(self.checks)
        object.__setattr__(self, "checks", checks)
        if not checks:
            raise ConfigError(f"checks must name at least one check, one of: {', '.join(CHECKS)}.")
        for check in checks:
            if not isinstance(check, CheckOptions):
                raise ConfigError(f"checks must hold check options (fedutils.checks), got {check!r}.")
        names = [check.name for check in checks]
        if len(set(names)) != len(names):
            raise ConfigError(f"each check may appear once, got {', '.join(names)}.")
        held_out = self.held_out_samples
        if isinstance(held_out, bool) or not isinstance(held_out, int) or held_out < 1:
            raise ConfigError(f"held_out_samples must be an integer of at least 1, got {held_out!r}.")

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the checks, in order."""
        return tuple(check.name for check in self.checks)

    @property
    def reserved_samples(self) -> int:
        """Test examples set aside for the server: ``held_out_samples`` with an accuracy check, else 0."""
        return self.held_out_samples if AccuracyCheck.name in self.names else 0

    def inspect(self, round_updates: RoundUpdates, server: ServerResources) -> Inspection:
        """Run every check on one round's updates and decide which of them the server aggregates."""
        verdicts = {check.name: check.inspect(round_updates, server) for check in self.checks}
        flagged = torch.tensor(
            [any(rows[i].flagged for rows in verdicts.values()) for i in range(len(round_updates.updates))],
            dtype=torch.bool,
        )
        keep = ~flagged if self.mode is CheckMode.FILTER else torch.ones_like(flagged)
        return Inspection(verdicts, keep.to(round_updates.updates.device))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "checks": [check.to_dict() for check in self.checks],
            "mode": self.mode.value,
            "held_out_samples": self.held_out_samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerChecks:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["checks"] = tuple(
            check_options(c["name"], **{k: v for k, v in c.items() if k != "name"}) for c in data["checks"]
        )
        return cls(**values)

    def replace(self, **changes: Any) -> ServerChecks:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, "the server's checks")
