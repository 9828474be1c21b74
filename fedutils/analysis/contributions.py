"""Whose update moves the target: a round's global step split into the attacker's and the others' shares.

FedAvg adds Σ_i α_i δ_i^t to w_G^{t−1}. An attack succeeds only if the
attacker's share α_m δ_m^t still moves the target once it is divided by k
and added to the benign share. :func:`contribution_confidences` evaluates
the target under each share alone, which shows why explicit boosting works
(its share is the un-boosted δ̃, at full strength) and why an update that
only reaches the target at full strength fails (SPEC §5.1, §5.3).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from fedutils.attacks import ExplicitBoosting
from fedutils.config import NUM_CLASSES
from fedutils.errors import ConfigError
from fedutils.models import build_model, load_flat_parameters
from fedutils.records import RunResult
from fedutils.run_options import DataSource
from fedutils.simulation.setup import initial_parameters, prepare
from fedutils.training import evaluate_targets


def global_parameters_before(result: RunResult, round_index: int) -> torch.Tensor:
    """w_G^{t−1}, rebuilt from w_G^0 and the kept updates of rounds 1 … t−1 (all must be kept)."""
    config = result.config
    missing = [s for s in range(1, round_index) if s not in result.updates]
    if missing:
        raise ConfigError(
            f"rebuilding the global model before round {round_index} needs the updates of rounds "
            f"1 to {round_index - 1}; not kept: {', '.join(map(str, missing))} (set keep_updates)."
        )
    params = initial_parameters(config, NUM_CLASSES[config.dataset])
    for s in range(1, round_index):
        params = params + config.aggregation_weight * result.updates[s].sum(0)
    return params


def contribution_confidences(result: RunResult, data: DataSource | None = None) -> pd.DataFrame:
    """For each round whose updates (and all earlier ones) were kept, the target's confidence in its
    target class under w_G^{t−1} plus each share of the round's step.

    Columns: ``before`` (w_G^{t−1}), ``attacker's model`` (+ δ_m), ``attacker's share``
    (+ α_m δ_m), ``benign share`` (+ Σ_{i≠m} α_i δ_i) and ``global model`` (both shares: w_G^t).
    ``data``: where the run's dataset is (the loaders' usual places by default).
    """
    config = result.config
    if config.attack is None:
        raise ConfigError("this run has no attacker whose share could be separated.")
    setup = prepare(config, data)
    model = build_model(config.model, setup.dataset.num_classes)
    kept = [t for t in sorted(result.updates) if all(s in result.updates for s in range(1, t))]
    if not kept:
        raise ConfigError("no round can be decomposed: keep the updates of rounds 1, 2, … (keep_updates).")

    def confidence(params: torch.Tensor) -> float:
        load_flat_parameters(model, params)
        return evaluate_targets(model, setup.targets)[0].confidence

    weight = config.aggregation_weight
    before = global_parameters_before(result, kept[0])
    rows = {}
    for t in kept:  # kept rounds are consecutive from kept[0], so w_G^{t-1} is carried forward
        benign, malicious = result.benign_and_malicious_updates(t)
        rows[t] = {
            "before": confidence(before),
            "attacker's model": confidence(before + malicious),
            "attacker's share": confidence(before + weight * malicious),
            "benign share": confidence(before + weight * benign.sum(0)),
            "global model": confidence(before + weight * (benign.sum(0) + malicious)),
        }
        before = before + weight * result.updates[t].sum(0)
    frame = pd.DataFrame(rows).T
    frame.index.name = "round t"
    return frame


def boost_outcomes(
    result: RunResult,
    round_index: int,
    boosts: Sequence[float],
    data: DataSource | None = None,
) -> pd.DataFrame:
    """What round ``round_index``'s global model w_G^t would have done with the target had the
    explicit-boosting attacker boosted by each λ′ in ``boosts`` instead of its own λ (§3.1, SPEC §5.1).

    The attacker's kept update is λ δ̃; with λ′ it is (λ′/λ) λ δ̃, and the benign share is unchanged:
    w_G^t(λ′) = w_G^{t−1} + α_m (λ′/λ) δ_m + Σ_{i≠m} α_i δ_i. The updates of rounds 1 … t must be kept.

    Returns:
        One row per λ′ (index ``boost λ′``): ``target confidence`` (in the attacker's class),
        ``predicted`` (the class index the model gives the target) and ``flipped``.
    """
    config = result.config
    if config.attack is None or config.attack.name != ExplicitBoosting.name:
        raise ConfigError("boost_outcomes needs a run with the explicit_boosting attack.")
    used_boost = config.attack.boost if config.attack.boost is not None else 1.0 / config.aggregation_weight
    benign, malicious = result.benign_and_malicious_updates(round_index)
    before = global_parameters_before(result, round_index)
    setup = prepare(config, data)
    model = build_model(config.model, setup.dataset.num_classes)
    rows = {}
    for boost in boosts:
        step = config.aggregation_weight * (benign.sum(0) + (boost / used_boost) * malicious)
        load_flat_parameters(model, before + step)
        outcome = evaluate_targets(model, setup.targets)[0]
        rows[boost] = {"target confidence": outcome.confidence, "predicted": outcome.predicted, "flipped": outcome.hit}
    frame = pd.DataFrame(rows).T
    frame.index.name = "boost λ′"
    return frame.astype({"target confidence": float, "predicted": int, "flipped": bool})
