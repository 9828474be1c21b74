"""Malicious agents: the paper's attacks, each a params dataclass plus an agent class.

=======================  =================================  =======================================
name                     options                            agent
=======================  =================================  =======================================
``explicit_boosting``    :class:`ExplicitBoosting`          :class:`ExplicitBoostingAgent`
``stealthy``             :class:`StealthyPoisoning`         :class:`StealthyPoisoningAgent`
``alternating``          :class:`AlternatingMinimisation`   :class:`AlternatingMinimisationAgent`
``data_poisoning``       :class:`DataPoisoning`             :class:`DataPoisoningAgent`
=======================  =================================  =======================================

Pick one with ``ExperimentConfig(attack=ExplicitBoosting(boost=10))`` or, by
name, :func:`~fedutils.attacks.registry.attack_params`. Each options class names its agent
(``ExplicitBoosting.agent_class``); a new attack is one module and one line in
:data:`~fedutils.attacks.registry.ATTACK_CLASSES`, and its command-line flags come from its fields.
"""

from __future__ import annotations

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
from fedutils.attacks.registry import ATTACK_CLASSES, ATTACKS, attack_from_dict, attack_params
from fedutils.attacks.stealthy import StealthyPoisoning, StealthyPoisoningAgent

__all__ = [
    "ATTACKS",
    "ATTACK_CLASSES",
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
    "distance_penalty",
]
