"""Every attack by name: the one place a new attack is registered.

A new attack is one module beside the others (its options class, naming its agent in ``agent_class``, and
the agent) and one line in :data:`ATTACK_CLASSES`; its command-line flags come from its fields
(:func:`fedutils.options.cli_flag`).
"""

from __future__ import annotations

from typing import Any

from fedutils.attacks.alie import ALIE
from fedutils.attacks.alternating import AlternatingMinimisation
from fedutils.attacks.base import AttackParams
from fedutils.attacks.data_poisoning import DataPoisoning
from fedutils.attacks.explicit_boosting import ExplicitBoosting
from fedutils.attacks.ipm import IPM
from fedutils.attacks.min_max import MinMax, MinSum
from fedutils.attacks.model_replacement import ModelReplacement
from fedutils.attacks.neurotoxin import Neurotoxin
from fedutils.attacks.stealthy import StealthyPoisoning
from fedutils.options import lookup

ATTACK_CLASSES: tuple[type[AttackParams], ...] = (
    ExplicitBoosting,
    StealthyPoisoning,
    AlternatingMinimisation,
    DataPoisoning,
    ALIE,
    IPM,
    MinMax,
    MinSum,
    ModelReplacement,
    Neurotoxin,
)
"""Every attack's options class, each naming its agent (``agent_class``): the one place a new attack is registered."""

ATTACKS: dict[str, type[AttackParams]] = {params.name: params for params in ATTACK_CLASSES}
"""Attack name → its options class."""


def attack_params(name: str, **options: Any) -> AttackParams:
    """The options of the attack called ``name`` (see :data:`ATTACKS`), with ``options`` set.

    Raises:
        ConfigError: unknown attack, or an option it does not have or with a bad value.
    """
    return lookup(ATTACKS, name, "attack")().replace(**options)


def attack_from_dict(data: dict[str, Any]) -> AttackParams:
    """Inverse of :meth:`AttackParams.to_dict`."""
    options = dict(data)
    return attack_params(options.pop("name"), **options)
