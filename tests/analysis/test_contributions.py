"""Splitting a round's global step into the attacker's and the benign agents' shares (on real data)."""

from __future__ import annotations

import pytest
import torch
from support import QUIET

from fedutils import preset, run_experiment
from fedutils.analysis.contributions import contribution_confidences, global_parameters_before
from fedutils.attacks import AlternatingMinimisation, ExplicitBoosting
from fedutils.errors import ConfigError
from fedutils.run_options import DataSource


def _run(attack, keep=(1, 2)):
    config = preset("smoke", attack=attack, keep_updates=keep)
    return run_experiment(config, QUIET)


def test_rebuilt_global_model_and_both_shares_match_the_records():
    result = _run(ExplicitBoosting())
    frame = contribution_confidences(result, DataSource(download=False))
    for t, record in enumerate(result.records, start=1):
        assert frame.loc[t, "global model"] == pytest.approx(record.target_confidence, abs=1e-5)
        attacker = next(a for a in record.agents if a.is_malicious)
        assert frame.loc[t, "attacker's model"] == pytest.approx(attacker.target_confidence, abs=1e-5)
    assert torch.allclose(global_parameters_before(result, 3), result.final_params, atol=1e-6)


def test_the_boosted_share_carries_the_attack_and_the_alternating_share_is_weaker():
    """In round 2 (from a trained model), explicit boosting's share α_m δ_m = δ̃ flips the target on its
    own; alternating minimisation's share, divided by k like any update, does far less."""
    explicit = contribution_confidences(_run(ExplicitBoosting()), DataSource(download=False)).loc[2]
    alternating = contribution_confidences(_run(AlternatingMinimisation()), DataSource(download=False)).loc[2]
    assert explicit["attacker's share"] > 0.9 > 0.5 > explicit["benign share"]
    assert explicit["attacker's share"] > alternating["attacker's share"] + 0.3


def test_rounds_that_cannot_be_rebuilt_are_named():
    result = _run(ExplicitBoosting(), keep=(2,))
    with pytest.raises(ConfigError, match="not kept: 1"):
        global_parameters_before(result, 2)
    with pytest.raises(ConfigError, match="no round can be decomposed"):
        contribution_confidences(result, DataSource(download=False))
    with pytest.raises(ConfigError, match="no attacker"):
        contribution_confidences(run_experiment(preset("smoke", keep_updates=(1,)), QUIET))
