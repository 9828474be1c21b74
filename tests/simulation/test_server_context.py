"""What the federation gives a rule besides the updates: its state across rounds, the agents' ids, the run's
seed, FLTrust's root set and the server's own update — and what each round's record shows of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedutils import RunOptions, preset, run_experiment
from fedutils.aggregators import FedAvg, ServerContext, ServerRule
from fedutils.aggregators.centered_clipping import CenteredClipping
from fedutils.aggregators.flame import Flame
from fedutils.aggregators.fltrust import FLTrust, fltrust
from fedutils.aggregators.foolsgold import FoolsGold
from fedutils.attacks import ExplicitBoosting
from fedutils.data.root_set import root_set_indices
from fedutils.errors import ConfigError
from fedutils.run_options import DataSource
from fedutils.simulation.setup import initial_parameters, prepare, server_resources

QUICK = RunOptions(cache=False, progress=False)


def _config(**changes):
    small = dict(
        max_rounds=2, num_agents=5, samples_per_agent=60, batch_size=20, local_epochs=1, validation_samples=200
    )
    return preset("smoke", **(small | changes))


def test_a_stateful_rule_carries_its_state_from_round_to_round_and_the_record_shows_it():
    run = run_experiment(_config(aggregator=CenteredClipping(tau=0.5)), QUICK)
    norms = [record.server_state["centre_norm"] for record in run.records]
    assert len(norms) == 2 and norms[0] > 0 and norms[0] != norms[1]
    assert run.records[0].to_dict()["server_state"] == {"centre_norm": norms[0]}
    assert "server_state" not in run_experiment(_config(), QUICK).records[0].to_dict()  # absent for the others


def test_foolsgold_keys_its_histories_by_agent_under_partial_participation_and_reports_weights():
    run = run_experiment(_config(max_rounds=3, participation=0.6, aggregator=FoolsGold()), QUICK)
    for record in run.records:
        weights = [agent.weight for agent in record.agents]
        assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)
    assert run.records[-1].server_state["agents_with_history"] >= 3


def test_flame_reports_each_update_s_cluster():
    run = run_experiment(_config(num_agents=6, aggregator=Flame(), attack=ExplicitBoosting()), QUICK)
    clusters = [agent.cluster for agent in run.records[0].agents]
    assert all(isinstance(c, int) for c in clusters) and "cluster" in run.records[0].to_dict()["agents"][0]


def test_fltrust_trains_the_server_on_a_root_set_of_its_own_reserved_data_and_weighs_by_it():
    config = _config(aggregator=FLTrust(root_samples=40), attack=ExplicitBoosting(), validation_samples=None)
    setup = prepare(config, DataSource(download=False))
    assert len(setup.root) == 40 and config.server_reserved_samples == 40
    assert config.reported_validation_size == len(setup.dataset.test) - 40  # the root set is not reported on
    server = server_resources(setup, torch.device("cpu"))
    params = initial_parameters(config, setup.dataset.num_classes)
    g0 = server.server_update(params, 1)
    assert g0.shape == params.shape and g0.norm() > 0
    assert torch.equal(g0, server.server_update(params, 1))  # its own seeded stream
    run = run_experiment(config.replace(validation_samples=200), QUICK)
    attacker = run.records[0].agents[-1]
    assert attacker.is_malicious and attacker.weight is not None
    assert sum(agent.weight for agent in run.records[0].agents) == pytest.approx(1.0)


def test_fltrust_without_the_server_update_says_what_it_needs():
    with pytest.raises(ValueError, match="server_update"):
        ServerRule(FLTrust())(torch.ones(3, 4), torch.full((3,), 1 / 3), server=ServerContext())


def test_fltrust_s_formula_is_what_the_round_applies():
    generator = torch.Generator().manual_seed(1)
    updates, g0 = torch.randn(5, 7, generator=generator), torch.randn(7, generator=generator)
    step = ServerRule(FLTrust())(updates, torch.full((5,), 0.2), server=ServerContext(server_update=g0)).step
    assert torch.allclose(step, fltrust(updates, torch.full((5,), 0.2), g0).step)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_root_sets_uniform_or_biased_as_the_paper_draws_them(seed):
    labels = np.repeat(np.arange(10), 100)
    rng = np.random.default_rng(seed)
    uniform = root_set_indices(labels, 100, rng)
    assert len(set(uniform.tolist())) == 100 and len(np.unique(labels[uniform])) >= 8
    one_class = root_set_indices(labels, 50, rng, bias=1.0, bias_class=3)
    assert (labels[one_class] == 3).all()
    half = root_set_indices(labels, 150, rng, bias=0.5, bias_class=7)
    assert 0.38 < (labels[half] == 7).mean() < 0.62
    with pytest.raises(ConfigError, match="root_samples"):
        root_set_indices(labels, 2000, rng)
    with pytest.raises(ConfigError, match="class 3"):
        root_set_indices(labels, 150, rng, bias=1.0, bias_class=3)


def test_a_biased_root_set_is_drawn_from_a_larger_reserve():
    assert FLTrust(root_samples=30, root_bias=0.9).reserved_samples() == 600
    assert FLTrust(root_samples=30).reserved_samples() == 30
    assert ServerRule(FedAvg()).reserved_samples() == 0
