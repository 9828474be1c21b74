"""Malicious agents: the paper's attacks, each a params dataclass plus an agent class.

=======================  =================================  =======================================
name                     options                            agent
=======================  =================================  =======================================
``explicit_boosting``    :class:`ExplicitBoosting`          :class:`ExplicitBoostingAgent`
``stealthy``             :class:`StealthyPoisoning`         :class:`StealthyPoisoningAgent`
``alternating``          :class:`AlternatingMinimisation`   :class:`AlternatingMinimisationAgent`
``data_poisoning``       :class:`DataPoisoning`             :class:`DataPoisoningAgent`
``alie``                 :class:`ALIE`                      :class:`TailoredAgent`
``ipm``                  :class:`IPM`                       :class:`TailoredAgent`
``min_max``              :class:`MinMax`                    :class:`TailoredAgent`
``min_sum``              :class:`MinSum`                    :class:`TailoredAgent`
``model_replacement``    :class:`ModelReplacement`          :class:`ModelReplacementAgent`
``neurotoxin``           :class:`Neurotoxin`                :class:`NeurotoxinAgent`
=======================  =================================  =======================================

The paper's attacks are one agent's (``attackers=1``); the attacks tailored to robust rules after it (ALIE, IPM,
Min-Max, Min-Sum, :mod:`~fedutils.attacks.tailored`) are f colluding agents' (``attackers=f``), crafted from the
round's honest updates or from their own; model replacement and Neurotoxin plant a trigger backdoor
(:mod:`~fedutils.attacks.backdoor`), measured as the attack success rate each round records.

Pick one with ``ExperimentConfig(attack=ExplicitBoosting(boost=10))`` or, by
name, :func:`~fedutils.attacks.registry.attack_params`. Each options class names its agent
(``ExplicitBoosting.agent_class``); a new attack is one module and one line in
:data:`~fedutils.attacks.registry.ATTACK_CLASSES`, and its command-line flags come from its fields.
"""

from __future__ import annotations

from fedutils.attacks.alie import ALIE, alie, alie_z_max
from fedutils.attacks.alternating import AlternatingMinimisation, AlternatingMinimisationAgent, StepOrder
from fedutils.attacks.backdoor import BackdoorAttack, train_backdoor
from fedutils.attacks.base import AttackParams, BoostedAttack, ConstrainedAttack, MaliciousAgent
from fedutils.attacks.data_poisoning import DataPoisoning, DataPoisoningAgent
from fedutils.attacks.estimation import Estimation, EstimationUse, OthersUpdateTracker
from fedutils.attacks.explicit_boosting import ExplicitBoosting, ExplicitBoostingAgent
from fedutils.attacks.ipm import IPM, ipm
from fedutils.attacks.min_max import MinMax, MinSum, Perturbation, min_max, min_sum
from fedutils.attacks.model_replacement import ModelReplacement, ModelReplacementAgent
from fedutils.attacks.neurotoxin import Neurotoxin, NeurotoxinAgent, neurotoxin_mask
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
from fedutils.attacks.tailored import Knowledge, TailoredAgent, TailoredAttack

__all__ = [
    "ALIE",
    "ATTACKS",
    "ATTACK_CLASSES",
    "IPM",
    "AdversarialModel",
    "AlternatingMinimisation",
    "AlternatingMinimisationAgent",
    "Anchor",
    "AttackParams",
    "BackdoorAttack",
    "BoostedAttack",
    "ConstrainedAttack",
    "DataPoisoning",
    "DataPoisoningAgent",
    "DistanceForm",
    "Estimation",
    "EstimationUse",
    "ExplicitBoosting",
    "ExplicitBoostingAgent",
    "Knowledge",
    "MaliciousAgent",
    "MinMax",
    "MinSum",
    "ModelReplacement",
    "ModelReplacementAgent",
    "Neurotoxin",
    "NeurotoxinAgent",
    "OthersUpdateTracker",
    "Perturbation",
    "StealthyPoisoning",
    "StealthyPoisoningAgent",
    "StepOrder",
    "TailoredAgent",
    "TailoredAttack",
    "adversarial_loss",
    "adversarial_loss_at_share",
    "alie",
    "alie_z_max",
    "attack_from_dict",
    "attack_params",
    "distance_penalty",
    "ipm",
    "min_max",
    "min_sum",
    "neurotoxin_mask",
    "train_backdoor",
]
