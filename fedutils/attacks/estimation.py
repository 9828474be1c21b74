"""Estimating the other agents' update from what the attacker has seen (Bhagoji et al. 2019, §3.2).

The attacker never sees the other agents' current updates, but it receives
the global model whenever it takes part. If it took part in round t′ and
again in round t, the global model moved in between by the others' updates
plus its own α_m δ_m^{t′}, so the others' contribution per round was

    δ̂_{[k]∖m} = (w_G^{t−1} − w_G^{t′−1} − α_m δ_m^{t′}) / (t − t′),

which is the "previous step" estimate of the talk, δ̂_{[k]∖m} = δ_{[k]∖m}^{t−1}
when the attacker takes part every round. It is also the "previous cumulative
update of the other agents" that the stealthy objective stays close to.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedutils.options import Choice


class Estimation(Choice):
    """Whether the attacker accounts for the other agents' update: not at all, or by the previous step."""

    NONE = "none"
    PREVIOUS = "previous"


class EstimationUse(Choice):
    """How an estimate δ̂ is used (SPEC §5.4).

    ``pre``: the malicious optimisation starts from w_G^{t−1} + δ̂ (the
    estimated next global model) — the authors' ``prev_1``. ``post``: it
    starts from w_G^{t−1} and δ̂ is subtracted afterwards — ``prev_2``. In
    both cases the update is measured from w_G^{t−1} + δ̂, so that once the
    others' actual updates are added the global model lands where the attacker
    aimed.
    """

    PRE = "pre"
    POST = "post"


@dataclass
class _Sighting:
    global_params: torch.Tensor
    round_index: int
    own_update: torch.Tensor


class OthersUpdateTracker:
    """Remembers what the attacker saw and sent, and estimates the others' update from it.

    Args:
        aggregation_weight: α_m, the attacker's FedAvg weight.
    """

    def __init__(self, aggregation_weight: float) -> None:
        self.aggregation_weight = aggregation_weight
        self._last: _Sighting | None = None

    def estimate(self, global_params: torch.Tensor, round_index: int) -> torch.Tensor | None:
        """δ̂_{[k]∖m} for round ``round_index`` given w_G^{t−1}; ``None`` before the attacker has sent anything."""
        if self._last is None:
            return None
        moved = global_params - self._last.global_params - self.aggregation_weight * self._last.own_update
        return moved / (round_index - self._last.round_index)

    def remember(self, global_params: torch.Tensor, round_index: int, own_update: torch.Tensor) -> None:
        """Record the global model received and the update sent in round ``round_index``."""
        self._last = _Sighting(global_params.clone(), round_index, own_update.clone())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What the tracker remembers, as tensors (empty before the attacker has sent anything): for an attacker
        that lives in a process that may not outlive a round, such as a Flower client (:mod:`fedutils.flower`)."""
        if self._last is None:
            return {}
        return {
            "global_params": self._last.global_params,
            "own_update": self._last.own_update,
            "round_index": torch.tensor(self._last.round_index),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Remember what :meth:`state_dict` returned (an empty dict forgets)."""
        if not state:
            self._last = None
            return
        self._last = _Sighting(state["global_params"], int(state["round_index"]), state["own_update"])
