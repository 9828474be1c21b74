"""Malicious agents: the paper's attacks, each a params dataclass plus an agent class.

=======================  ==============================  ====================================
name                     options                         agent
=======================  ==============================  ====================================
``explicit_boosting``    :class:`ExplicitBoosting`       :class:`ExplicitBoostingAgent`
``stealthy``             :class:`StealthyPoisoning`      :class:`StealthyPoisoningAgent`
``alternating``          :class:`AlternatingMinimisation`  :class:`AlternatingMinimisationAgent`
``data_poisoning``       :class:`DataPoisoning`          :class:`DataPoisoningAgent`
=======================  ==============================  ====================================

Pick one with ``ExperimentConfig(attack=ExplicitBoosting(boost=10))`` or, by
name, :func:`attack_params`.
"""

from __future__ import annotations

from typing import Any

from fedutils.attacks.alternating import AlternatingMinimisation, AlternatingMinimisationAgent, StepOrder
from fedutils.attacks.base import AttackParams, BoostedAttack, ConstrainedAttack, MaliciousAgent
from fedutils.attacks.data_poisoning import DataPoisoning, DataPoisoningAgent
from fedutils.attacks.estimation import Estimation, EstimationUse, OthersUpdateTracker
from fedutils.attacks.explicit_boosting import ExplicitBoosting, ExplicitBoostingAgent
from fedutils.attacks.objectives import (
    AdversarialModel,
    Anchor,
    DistanceForm,
    adversarial_loss,
    adversarial_loss_at_share,
    distance_penalty,
)
from fedutils.attacks.stealthy import StealthyPoisoning, StealthyPoisoningAgent
from fedutils.options import lookup

AGENT_CLASSES: dict[type[AttackParams], type[MaliciousAgent]] = {
    ExplicitBoosting: ExplicitBoostingAgent,
    StealthyPoisoning: StealthyPoisoningAgent,
    AlternatingMinimisation: AlternatingMinimisationAgent,
    DataPoisoning: DataPoisoningAgent,
}
ATTACKS: dict[str, type[AttackParams]] = {params.name: params for params in AGENT_CLASSES}
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


def build_malicious_agent(params: AttackParams, *args: Any, **kwargs: Any) -> MaliciousAgent:
    """The agent class for ``params``, constructed with :class:`MaliciousAgent`'s arguments."""
    return AGENT_CLASSES[type(params)](*args, params=params, **kwargs)


__all__ = [
    "ATTACKS",
    "AdversarialModel",
    "AlternatingMinimisation",
    "AlternatingMinimisationAgent",
    "Anchor",
    "AttackParams",
    "BoostedAttack",
    "ConstrainedAttack",
    "DataPoisoning",
    "DataPoisoningAgent",
    "DistanceForm",
    "Estimation",
    "EstimationUse",
    "ExplicitBoosting",
    "ExplicitBoostingAgent",
    "MaliciousAgent",
    "OthersUpdateTracker",
    "StealthyPoisoning",
    "StealthyPoisoningAgent",
    "StepOrder",
    "adversarial_loss",
    "adversarial_loss_at_share",
    "attack_from_dict",
    "attack_params",
    "build_malicious_agent",
    "distance_penalty",
]
