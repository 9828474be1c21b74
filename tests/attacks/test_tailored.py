"""f colluding attackers and the round in two phases (fedutils.attacks.tailored): who attacks, what they see,
what the server receives, and where such attacks are refused."""

from __future__ import annotations

import pytest
import torch

from fedutils import ExperimentConfig, RunOptions, preset, run_experiment
from fedutils.attacks import ALIE, IPM, ExplicitBoosting, Knowledge, MinMax, MinSum, alie, ipm, min_max
from fedutils.attacks.tailored import require_engine_supports, second_phase
from fedutils.errors import ConfigError


class _Agent:
    def __init__(self, agent_id, params=None):
        self.agent_id = agent_id
        self.is_malicious = params is not None
        self.params = params
        self.crafts_from_round = params is not None

    def craft_from_round(self, honest, colluders):
        from fedutils.attacks.tailored import TailoredAgent

        return TailoredAgent.craft_from_round(self, honest, colluders)


def _round(params, n=8, f=2, d=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    updates = torch.randn(n, d, generator=generator, dtype=torch.float64)
    agents = [_Agent(i, params if i >= n - f else None) for i in range(n)]
    return agents, updates


def test_the_attackers_are_the_last_f_agents_and_the_paper_keeps_its_one():
    assert preset("smoke", attack=ExplicitBoosting()).malicious_agents == (9,)
    assert preset("smoke", attack=ExplicitBoosting(malicious_agent=3)).malicious_agents == (3,)
    assert preset("smoke", attack=ALIE(attackers=3)).malicious_agents == (7, 8, 9)
    assert preset("smoke").malicious_agents == ()
    assert "attackers" not in ExplicitBoosting().to_dict()  # the paper's runs keep their cache keys
    assert ALIE(attackers=3).to_dict()["attackers"] == 3
    assert ExperimentConfig.from_dict(preset("smoke", attack=ALIE(attackers=3)).to_dict()).attack == ALIE(attackers=3)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ExperimentConfig(num_agents=10, attack=ALIE(attackers=10)), "attackers"),
        (lambda: ALIE(attackers=0), "attackers"),
        (lambda: ExplicitBoosting(attackers=2, malicious_agent=1), "malicious_agent"),
        (lambda: ALIE(attackers=1, knowledge="own"), "attackers ≥ 2"),
        (lambda: IPM(epsilon=0), "epsilon"),
        (lambda: ALIE(sign=2), "sign"),
        (lambda: MinMax(perturbation="sideways"), "perturbation"),
    ],
)
def test_bad_options_get_one_sentence_naming_the_option(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize("knowledge", list(Knowledge))
def test_the_second_phase_replaces_every_attacker_row_with_one_vector_from_what_they_see(knowledge):
    params = ALIE(attackers=3, knowledge=knowledge)
    agents, updates = _round(params, n=9, f=3)
    sent = second_phase(agents, updates, 1)
    seen = updates[:6] if knowledge is Knowledge.HONEST else updates[6:]
    assert torch.equal(sent[:6], updates[:6])  # honest rows untouched
    for row in sent[6:]:
        assert torch.allclose(row, alie(seen, 1.5))
    assert not torch.equal(sent, updates)


def test_ipm_and_min_max_craft_from_the_honest_rows():
    for params, expected in [
        (IPM(attackers=2, epsilon=2.0), lambda honest: ipm(honest, 2.0)),
        (MinMax(attackers=2), lambda honest: min_max(honest).update),
    ]:
        agents, updates = _round(params)
        sent = second_phase(agents, updates, 1)
        assert torch.allclose(sent[-1], expected(updates[:-2])) and torch.equal(sent[-1], sent[-2])


def test_a_round_without_tailored_attackers_is_left_as_it_is():
    agents, updates = _round(None, f=0)
    assert second_phase(agents, updates, 1) is updates


def test_too_few_rows_to_see_a_spread_sends_the_attackers_benign_mean():
    agents, updates = _round(MinSum(attackers=2), n=3, f=2)  # one honest row: no spread to stay inside
    sent = second_phase(agents, updates, 1)
    assert torch.allclose(sent[1], updates[1:].mean(dim=0)) and torch.equal(sent[0], updates[0])


def test_flower_refuses_an_attack_that_sees_the_round_and_runs_the_papers():
    with pytest.raises(ConfigError, match=r"alie .* flower"):
        require_engine_supports(ALIE(attackers=2), sees_round=False, engine="flower")
    require_engine_supports(ExplicitBoosting(), sees_round=False, engine="flower")
    require_engine_supports(ALIE(attackers=2), sees_round=True, engine="simulator")


def test_a_federation_with_colluding_attackers_records_each_as_malicious_and_sends_one_vector():
    config = preset(
        "smoke", max_rounds=1, num_agents=6, samples_per_agent=40, batch_size=20, local_epochs=1,
        validation_samples=100, attack=IPM(attackers=2, epsilon=1.0), keep_updates=(1,),
    )  # fmt: skip
    run = run_experiment(config, RunOptions(cache=False, progress=False))
    agents = run.records[0].agents
    assert [a.is_malicious for a in agents] == [False] * 4 + [True] * 2
    updates = run.updates[1]
    assert torch.allclose(updates[4], -updates[:4].mean(dim=0), atol=1e-6) and torch.equal(updates[4], updates[5])
