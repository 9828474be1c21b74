"""The round loop: FedAvg's global step, agent sampling, stopping, determinism (on real data)."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch
from support import CACHED, QUIET

from fedutils.aggregators import AggregationRule, Median
from fedutils.checks import CheckMode, DistanceCheck, ServerChecks
from fedutils.config import ExperimentConfig
from fedutils.models import build_model
from fedutils.presets import preset
from fedutils.run_options import DataSource
from fedutils.runner import run_experiment, run_many
from fedutils.simulation.evaluator import Evaluator
from fedutils.simulation.execution import AgentsDropped
from fedutils.simulation.federation import run_federation, select_agents
from fedutils.simulation.setup import initial_parameters, prepare, server_resources


class FixedUpdateAgent:
    """An agent whose update is a fixed vector, to check what the server does with updates."""

    is_malicious = False

    def __init__(self, agent_id: int, update: torch.Tensor) -> None:
        self.agent_id = agent_id
        self.update = update
        self.calls: list[int] = []

    def compute_update(self, global_params: torch.Tensor, round_index: int) -> torch.Tensor:
        self.calls.append(round_index)
        return self.update.clone()


@pytest.fixture(scope="module")
def small_setup():
    config = preset("smoke", num_agents=4, max_rounds=3)
    setup = prepare(config, DataSource(download=False))
    evaluator = Evaluator(build_model(config.model), setup.validation, setup.targets)
    return config, setup, evaluator


def _fixed_agents(config: ExperimentConfig, size: int) -> list[FixedUpdateAgent]:
    generator = torch.Generator().manual_seed(1)
    return [FixedUpdateAgent(i, 0.01 * torch.randn(size, generator=generator)) for i in range(config.num_agents)]


def test_global_step_is_the_weighted_sum_of_updates(small_setup):
    config, _, evaluator = small_setup
    config = config.replace(max_rounds=1)
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))
    result = run_federation(config, agents, evaluator, start, progress=False)
    expected = start + sum(a.update for a in agents) / config.num_agents  # alpha_i = 1/k
    assert torch.allclose(result.final_params, expected, atol=1e-7)
    (record,) = result.records
    for agent, agent_record in zip(agents, record.agents, strict=True):
        assert agent_record.update_norm == pytest.approx(agent.update.norm().item())
        assert agent_record.val_accuracy == pytest.approx(evaluator.evaluate(start + agent.update)[0].accuracy)


def test_partial_participation_samples_k_c_agents_with_weights_one_over_k(small_setup):
    config, _, evaluator = small_setup
    config = config.replace(num_agents=10, participation=0.3, max_rounds=6)
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))
    result = run_federation(config, agents, evaluator, start, progress=False)
    selections = [tuple(a.agent_id for a in r.agents) for r in result.records]
    assert all(len(s) == 3 for s in selections) and len(set(selections)) > 1
    expected = start + sum(agents[i].update for s in selections for i in s) / 10  # weights stay 1/k, sum to C
    assert torch.allclose(result.final_params, expected, atol=1e-6)
    assert sum(len(a.calls) for a in agents) == 18


def test_selection_is_all_agents_when_c_is_one():
    assert select_agents(5, 5, np.random.default_rng(0)) == [0, 1, 2, 3, 4]
    assert len(set(select_agents(100, 10, np.random.default_rng(0)))) == 10


def test_stops_at_the_stopping_accuracy(small_setup):
    config, _, evaluator = small_setup
    start = initial_parameters(config, 10)
    result = run_federation(
        config.replace(stop_accuracy=0.01, max_rounds=5),
        _fixed_agents(config, len(start)),
        evaluator,
        start,
        progress=False,
    )
    assert result.rounds == 1


def test_agents_must_be_given_in_id_order(small_setup):
    config, _, evaluator = small_setup
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))[::-1]
    with pytest.raises(ValueError, match="ids 0"):
        run_federation(config, agents, evaluator, start, progress=False)


def _without_timing(result):
    return [dataclasses.replace(r, seconds=0.0) for r in result.records]


def test_same_seed_same_records_and_different_seed_different_records():
    config = preset("smoke")
    first = run_experiment(config, QUIET)
    again = run_experiment(config, QUIET)
    other = run_experiment(config.replace(seed=1), QUIET)
    assert _without_timing(first) == _without_timing(again)
    assert torch.equal(first.final_params, again.final_params)
    assert _without_timing(first) != _without_timing(other)


def test_run_many_runs_each_configuration_once_under_its_key():
    configs = {
        ("none", "fedavg"): preset("smoke", max_rounds=1),
        ("none", "median"): preset("smoke", max_rounds=1, aggregator=AggregationRule("median")),
    }
    results = run_many(configs, download=False)
    assert list(results) == list(configs)
    assert results[("none", "median")].config.aggregator.rule == Median()
    again = run_experiment(configs[("none", "fedavg")], CACHED)  # from the cache
    assert again.records == results[("none", "fedavg")].records


def test_benign_federation_learns_on_real_data():
    result = run_experiment(preset("smoke", max_rounds=3), QUIET)
    accuracies = [r.val_accuracy for r in result.records]
    assert accuracies[-1] > 0.5 and accuracies[-1] > accuracies[0]
    benign = [a.val_accuracy for r in result.records for a in r.agents]
    assert all(a > 0.2 for a in benign)


def test_kept_updates_are_the_updates_that_made_the_global_model(small_setup):
    config, _, evaluator = small_setup
    config = config.replace(max_rounds=2, keep_updates=(1, 2))
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))
    result = run_federation(config, agents, evaluator, start, progress=False)
    assert sorted(result.updates) == [1, 2]
    assert result.updates[1].shape == (config.num_agents, len(start))
    moved = sum(result.updates[t].sum(0) for t in (1, 2)) / config.num_agents
    assert torch.allclose(result.final_params, start + moved, atol=1e-6)
    assert run_federation(config.replace(keep_updates=()), agents, evaluator, start, progress=False).updates == {}


def test_held_out_data_is_apart_from_the_reported_data_and_the_targets():
    config = preset("smoke", checks=ServerChecks(held_out_samples=600), targets=((5454, 7), (9999, 0)))
    setup = prepare(config, DataSource(download=False))
    test = setup.dataset.test
    assert len(setup.validation) == 500 and torch.equal(setup.validation.x, test.x[:500])
    assert len(setup.held_out) == 599  # the last 600 test examples but target 9999
    assert torch.equal(setup.held_out.x, test.x[9400:9999])


def test_observing_does_not_change_training_and_filtering_drops_flagged_updates(small_setup):
    config, _, evaluator = small_setup
    config = config.replace(max_rounds=2)
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))
    agents[3].update *= 20  # an outlier every round
    plain = run_federation(config, agents, evaluator, start, progress=False)
    observe = config.replace(checks=ServerChecks(checks=(DistanceCheck(),)))
    server = server_resources(prepare(observe, DataSource(download=False)), torch.device("cpu"))
    observed = run_federation(observe, agents, evaluator, start, server=server, progress=False)
    assert torch.equal(observed.final_params, plain.final_params)
    assert all(a.aggregated for r in observed.records for a in r.agents)
    assert [c.flagged for c in observed.records[0].checks] == [False, False, False, True]
    filtered = run_federation(
        observe.replace(checks=observe.checks.replace(mode=CheckMode.FILTER)),
        agents,
        evaluator,
        start,
        server=server,
        progress=False,
    )
    honest_step = sum(a.update for a in agents[:3]) / config.num_agents  # α_i = 1/k; the outlier's share is dropped
    assert torch.allclose(filtered.final_params, start + 2 * honest_step, atol=1e-6)
    assert [a.aggregated for a in filtered.records[1].agents] == [True, True, True, False]
    with pytest.raises(ValueError, match="server"):
        run_federation(observe, agents, evaluator, start, progress=False)


def test_a_robust_rule_decides_the_step_and_reports_what_it_kept(small_setup):
    config, _, evaluator = small_setup
    config = config.replace(max_rounds=1, num_agents=5, aggregator=AggregationRule("krum", f=1))
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))
    agents[4].update *= 50  # far from the others
    server = server_resources(prepare(config, DataSource(download=False)), torch.device("cpu"))
    result = run_federation(config, agents, evaluator, start, server=server, progress=False)
    (record,) = result.records
    chosen = [a.agent_id for a in record.agents if a.selected]
    assert len(chosen) == 1 and chosen != [4]
    assert torch.allclose(result.final_params, start + agents[chosen[0]].update)  # added with weight 1
    median = config.replace(aggregator=AggregationRule("median"))
    shares = (
        run_federation(
            median,
            agents,
            evaluator,
            start,
            server=server_resources(prepare(median, DataSource(download=False)), torch.device("cpu")),
            progress=False,
        )
        .records[0]
        .agents
    )
    assert sum(a.coordinate_share for a in shares) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="server_resources"):
        run_federation(config, agents, evaluator, start, progress=False)


class DroppingExecutor:
    """Computes every agent's update, then drops the agents named for each round (as a real federation may)."""

    stacked_evaluation = False
    team = None

    def __init__(self, dropped: dict[int, set[int]]) -> None:
        self.dropped = dropped

    def running(self):
        return contextlib.nullcontext()

    def updates(self, agents, global_params, round_index, *, progress=False):
        answered = [p for p, a in enumerate(agents) if a.agent_id not in self.dropped.get(round_index, set())]
        updates = [agents[p].compute_update(global_params, round_index) for p in answered]
        stacked = torch.stack(updates) if updates else global_params.new_zeros(0, len(global_params))
        if len(answered) < len(agents):
            raise AgentsDropped(answered, stacked)
        return stacked


def test_a_round_goes_on_without_the_agents_that_dropped_out(small_setup):
    """FedAvg keeps α_i = 1/k: a dropped agent's share is missing from the step; if every agent drops, the
    global model stays as it was; the records name who dropped."""
    config, _, evaluator = small_setup
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))
    executor = DroppingExecutor({1: {0, 2}, 2: {0, 1, 2, 3}})
    result = run_federation(config, agents, evaluator, start, executor=executor, progress=False)
    rounds = result.records
    assert [r.dropped for r in rounds] == [(0, 2), (0, 1, 2, 3), ()]
    assert [[a.agent_id for a in r.agents] for r in rounds] == [[1, 3], [], [0, 1, 2, 3]]
    expected = start + (agents[1].update + agents[3].update) / 4 + sum(a.update for a in agents) / 4
    assert torch.allclose(result.final_params, expected, atol=1e-6)
    assert rounds[1].val_accuracy == rounds[0].val_accuracy  # nobody answered: the model did not move


class CountingEvaluator(Evaluator):
    """An evaluator that remembers how many candidates each call evaluated."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[int] = []

    def evaluate(self, params):
        self.calls.append(1)
        return super().evaluate(params)

    def evaluate_many(self, params):
        self.calls.append(len(params))
        return super().evaluate_many(params)


@pytest.mark.parametrize("evaluate_agents", [True, False])
def test_a_round_evaluates_its_candidates_and_the_new_global_model_in_one_call(small_setup, evaluate_agents):
    """So that a threaded or stacked evaluator shares all of them out at once; the records are unchanged."""
    config, setup, _ = small_setup
    config = config.replace(max_rounds=2, evaluate_agents=evaluate_agents)
    start = initial_parameters(config, 10)
    agents = _fixed_agents(config, len(start))
    counting = CountingEvaluator(build_model(config.model), setup.validation, setup.targets)
    result = run_federation(config, agents, counting, start, progress=False)
    assert counting.calls == ([config.num_agents + 1] if evaluate_agents else [1]) * 2
    evaluation, targets = Evaluator(build_model(config.model), setup.validation, setup.targets).evaluate(
        result.final_params
    )
    assert result.records[-1].val_accuracy == pytest.approx(evaluation.accuracy)
    assert result.records[-1].targets[0].confidence == pytest.approx(targets[0].confidence)
