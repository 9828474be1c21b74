"""The execution layer: honest agents trained as one stacked model give the updates they give one by one.

In float64 the two executions agree to round-off (≤ 1e-10): same batches,
same dropout masks, same Adam. In float32 they agree to float rounding, which
Adam's normalised steps amplify over a round (a gradient near zero whose last
bits differ can flip the sign of a full step), just as running on one CPU
thread instead of two does; so float32 runs are compared on what the book
reports, after two rounds.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from support import QUIET
from torch import nn

from fedutils import RunResult, preset, run_experiment
from fedutils.agents import BenignAgent, LocalTraining
from fedutils.analysis import agents_frame, checks_frame, rounds_frame
from fedutils.attacks import ExplicitBoosting
from fedutils.checks import AccuracyCheck, RoundUpdates, ServerChecks
from fedutils.data.dataset import Dataset, LabelledData
from fedutils.errors import ConfigError
from fedutils.models import build_model, flatten_parameters
from fedutils.parallel import one_intra_op_thread
from fedutils.run_options import DataSource, ExecutorName, RunOptions
from fedutils.seeding import torch_seeded
from fedutils.simulation.batched import StackedNetwork
from fedutils.simulation.evaluator import Evaluator
from fedutils.simulation.execution import (
    BatchedExecutor,
    ParallelExecutor,
    SequentialExecutor,
    build_executor,
    resolve_executor,
)
from fedutils.simulation.setup import build_agents, initial_parameters, prepare, server_resources
from fedutils.training import BatchOrder

ROUND_OFF = 1e-10


def _relative_errors(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(dim=-1) / a.norm(dim=-1)


def _random_shards(sizes: list[int], input_shape: tuple[int, ...], num_classes: int) -> list[LabelledData]:
    generator = torch.Generator().manual_seed(3)
    return [
        LabelledData(
            torch.rand(n, *input_shape, generator=generator), torch.randint(num_classes, (n,), generator=generator)
        )
        for n in sizes
    ]


@pytest.mark.parametrize("order", list(BatchOrder))
@pytest.mark.parametrize(
    ("model_name", "input_shape", "classes"),
    [("model_a", (1, 28, 28), 10), ("fast_cnn", (1, 28, 28), 10), ("census_mlp", (104,), 2)],
)
def test_stacked_training_is_each_agent_training_alone(float64, order, model_name, input_shape, classes):
    """Unequal shards (so unequal step counts), two dropout layers on model A, both batch orders."""
    model = build_model(model_name, classes)
    start = flatten_parameters(model)
    shards = _random_shards([24, 18, 24], input_shape, classes)
    training = LocalTraining(epochs=2, batch_size=6, learning_rate=1e-3, batch_order=order)
    seeds = [11, 12, 13]
    alone = []
    for shard, seed in zip(shards, seeds, strict=True):
        with torch_seeded(seed) as generator:
            alone.append(training.train_from(model, start, shard, generator))
    stacked = StackedNetwork(model, input_shape).train(
        start,
        shards,
        [training.steps_for(len(s)) for s in shards],
        seeds,
        batch_size=training.batch_size,
        learning_rate=training.learning_rate,
        batch_order=order,
    )
    assert [training.steps_for(len(s)) for s in shards] == [8, 6, 8]
    assert _relative_errors(torch.stack(alone) - start, stacked - start).max() <= ROUND_OFF


def _float64_setup(config):
    setup = prepare(config, DataSource(download=False))
    data = setup.dataset
    as_double = Dataset(
        data.name,
        LabelledData(data.train.x.double(), data.train.y),
        LabelledData(data.test.x.double(), data.test.y),
        data.class_names,
    )
    targets = dataclasses.replace(setup.targets, x=setup.targets.x.double())
    return dataclasses.replace(setup, dataset=as_double, targets=targets)


def _round_updates(setup, executor, round_index: int = 1) -> torch.Tensor:
    agents = build_agents(setup, torch.device("cpu"))
    start = initial_parameters(setup.config, setup.dataset.num_classes)
    return executor.updates(agents, start, round_index)


@pytest.mark.parametrize("order", list(BatchOrder))
@pytest.mark.parametrize("other", [BatchedExecutor, lambda: ParallelExecutor(workers=2)], ids=["batched", "parallel"])
def test_a_round_is_the_round_computed_one_by_one_attacker_included(float64, order, other):
    config = preset("smoke", samples_per_agent=60, batch_order=order, attack=ExplicitBoosting())
    setup = _float64_setup(config)
    # the attacker is computed alone, in the calling thread, with one intra-op thread under the parallel executor:
    # the reference takes the same thread count, or its sums split otherwise (two cores: last bits differ)
    with one_intra_op_thread():
        sequential = _round_updates(setup, SequentialExecutor(), round_index=2)
        updates = _round_updates(setup, other(), round_index=2)
    assert sequential.dtype == torch.float64 and sequential.shape == updates.shape
    assert _relative_errors(sequential, updates).max() <= ROUND_OFF
    assert torch.equal(sequential[config.malicious_agent], updates[config.malicious_agent])  # computed alone


def test_unequal_agents_are_dealt_evenly_and_computed_exactly(float64, monkeypatch):
    """Non-IID shards of different sizes: the parallel threads get about equal work, stack only agents that take
    the same number of steps, and compute the sequential updates."""
    config = preset("smoke", partition="dirichlet", dirichlet_alpha=0.5, samples_per_agent=None, num_agents=6)
    setup = _float64_setup(config)
    setup = dataclasses.replace(setup, shards=[shard[: 40 + 25 * i] for i, shard in enumerate(setup.shards)])
    stacked: list[list[int]] = []
    original = StackedNetwork.train

    def recording(self, start, shards, num_steps, *args, **kwargs):
        stacked.append(list(num_steps))
        return original(self, start, shards, num_steps, *args, **kwargs)

    monkeypatch.setattr(StackedNetwork, "train", recording)
    parallel = _round_updates(setup, ParallelExecutor(workers=2))
    monkeypatch.undo()
    sequential = _round_updates(setup, SequentialExecutor())
    assert _relative_errors(sequential, parallel).max() <= ROUND_OFF
    assert all(len(set(steps)) == 1 for steps in stacked)  # no stacked copy waits for a longer one
    steps = sorted(int(5 * (40 + 25 * i) / 50) for i in range(6))
    assert sum(sum(s) for s in stacked) == sum(steps)


def _record_stack_sizes(monkeypatch) -> list[int]:
    """From now on (until ``monkeypatch.undo()``), the number of copies of every stacked training, in order."""
    sizes: list[int] = []
    original = StackedNetwork.train

    def recording(self, start, shards, *args, **kwargs):
        sizes.append(len(shards))
        return original(self, start, shards, *args, **kwargs)

    monkeypatch.setattr(StackedNetwork, "train", recording)
    return sizes


def test_a_large_network_trains_one_agent_at_a_time_in_each_thread(float64, monkeypatch):
    """Above the stacking limit, each thread trains its agents one by one (stacks of one), with the same updates;
    the book's networks fall on the side the benchmark measured faster."""
    setup = _float64_setup(preset("smoke", samples_per_agent=60))
    stack_sizes = _record_stack_sizes(monkeypatch)
    one_at_a_time = _round_updates(setup, ParallelExecutor(workers=2, stacking_limit=0))
    assert stack_sizes == [1] * setup.config.num_agents
    stack_sizes.clear()
    stacked = _round_updates(setup, ParallelExecutor(workers=2))
    assert sorted(stack_sizes) == [5, 5]
    monkeypatch.undo()
    assert _relative_errors(stacked, one_at_a_time).max() <= ROUND_OFF
    executor = ParallelExecutor()
    assert executor.stacks(StackedNetwork(build_model("fast_cnn"), (1, 28, 28)))
    assert not executor.stacks(StackedNetwork(build_model("model_a"), (1, 28, 28)))


def test_stacking_in_groups_changes_nothing(float64):
    setup = _float64_setup(preset("smoke", samples_per_agent=60))
    whole = _round_updates(setup, BatchedExecutor())
    in_threes = _round_updates(setup, BatchedExecutor(max_stacked=3))
    assert _relative_errors(whole, in_threes).max() <= ROUND_OFF


def test_with_a_hundred_agents_only_the_selected_are_trained(monkeypatch):
    config = preset("fast_k100", samples_per_agent=60, max_rounds=1, validation_samples=500)
    copies = _record_stack_sizes(monkeypatch)
    batched = run_experiment(config, QUIET.replace(executor="batched"))
    monkeypatch.undo()
    sequential = run_experiment(config, QUIET.replace(executor="sequential"))
    assert copies == [10]
    assert [a.agent_id for a in batched.records[0].agents] == [a.agent_id for a in sequential.records[0].agents]
    assert batched.records[0].val_accuracy == pytest.approx(sequential.records[0].val_accuracy, abs=0.005)


@pytest.fixture(scope="module")
def smoke_runs() -> dict[str, RunResult]:
    """Two smoke rounds (explicit boosting, both checks observing) under each executor."""
    config = preset("smoke", attack=ExplicitBoosting(), checks=ServerChecks())
    return {
        name: run_experiment(config, QUIET.replace(executor=name, device="cpu"))
        for name in ("sequential", "batched", "parallel")
    }


@pytest.mark.parametrize("other", ["batched", "parallel"])
def test_two_smoke_rounds_report_the_same_numbers_either_way(smoke_runs, other):
    """The issue's tolerance for float32: accuracy within half a point, target confidence within 0.05."""
    sequential, result = rounds_frame(smoke_runs["sequential"]), rounds_frame(smoke_runs[other])
    assert (sequential.val_accuracy - result.val_accuracy).abs().max() <= 0.005
    assert (sequential.target_confidence - result.target_confidence).abs().max() <= 0.05
    agents_seq, agents = agents_frame(smoke_runs["sequential"]), agents_frame(smoke_runs[other])
    assert (agents_seq.val_accuracy - agents.val_accuracy).abs().max() <= 0.005
    assert (agents_seq.update_norm - agents.update_norm).abs().max() <= 1e-3 * agents_seq.update_norm.max()
    checks_seq, checks = checks_frame(smoke_runs["sequential"]), checks_frame(smoke_runs[other])
    assert (checks_seq.flagged == checks.flagged).all()


@pytest.mark.parametrize("executor", ["batched", "parallel"])
def test_same_seed_and_executor_give_identical_records(smoke_runs, executor):
    config = preset("smoke", attack=ExplicitBoosting(), checks=ServerChecks())
    again = run_experiment(config, QUIET.replace(executor=executor, device="cpu"))
    runs = [smoke_runs[executor], again]
    without_times = [[{k: v for k, v in r.items() if k != "seconds"} for r in run.to_records()] for run in runs]
    assert without_times[0] == without_times[1]
    assert torch.equal(runs[0].final_params, runs[1].final_params)


def test_stacked_evaluation_is_the_evaluation_one_by_one(fmnist):
    config = preset("smoke")
    setup = prepare(config, DataSource(download=False))
    model = build_model(config.model)
    candidates = torch.stack([initial_parameters(config.replace(seed=s), 10) for s in range(3)])
    one_by_one = Evaluator(model, setup.validation, setup.targets).evaluate_many(candidates)
    stacked = Evaluator(model, setup.validation, setup.targets, stacked=True).evaluate_many(candidates)
    for (e1, t1), (e2, t2) in zip(one_by_one, stacked, strict=True):
        assert e1.accuracy == pytest.approx(e2.accuracy, abs=1e-3)
        assert e1.loss == pytest.approx(e2.loss, rel=1e-5)
        assert [t.predicted for t in t1] == [t.predicted for t in t2]
        assert [t.confidence for t in t1] == pytest.approx([t.confidence for t in t2], abs=1e-5)
    accuracies = Evaluator(model, setup.validation, setup.targets, stacked=True).accuracies(candidates)
    assert accuracies == [e.accuracy for e, _ in stacked]


def test_the_accuracy_check_sees_the_same_gaps_stacked():
    config = preset("smoke", checks=ServerChecks(checks=(AccuracyCheck(),)))
    setup = prepare(config, DataSource(download=False))
    start = initial_parameters(config, 10)
    updates = 0.05 * torch.randn(4, len(start), generator=torch.Generator().manual_seed(0))
    round_updates = RoundUpdates(start, updates, torch.full((4,), 0.1))
    verdicts = [
        AccuracyCheck().inspect(round_updates, server_resources(setup, torch.device("cpu"), stacked=stacked))
        for stacked in (False, True)
    ]
    assert [v.statistic for v in verdicts[0]] == pytest.approx([v.statistic for v in verdicts[1]], abs=2e-3)


def test_auto_stacks_on_gpus_and_spreads_over_cpu_cores():
    assert resolve_executor("auto", torch.device("cuda")) is ExecutorName.BATCHED
    assert resolve_executor("auto", torch.device("mps")) is ExecutorName.BATCHED
    assert resolve_executor("auto", torch.device("cpu"), cores=2) is ExecutorName.PARALLEL
    assert resolve_executor("auto", torch.device("cpu"), cores=1) is ExecutorName.SEQUENTIAL
    assert resolve_executor("batched", torch.device("cpu")) is ExecutorName.BATCHED
    assert isinstance(build_executor("batched", torch.device("cpu")), BatchedExecutor)
    assert isinstance(build_executor("sequential", torch.device("cpu")), SequentialExecutor)
    assert isinstance(build_executor("parallel", torch.device("cpu")), ParallelExecutor)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: resolve_executor("threads", torch.device("cpu")),
            "executor must be one of auto, sequential, batched, parallel",
        ),
        (lambda: BatchedExecutor(max_stacked=0), "max_stacked must be an integer of at least 1"),
        (lambda: RunOptions(executor="gpu"), "executor must be one of"),
    ],
)
def test_bad_executor_options_get_one_sentence(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_networks_with_other_dropouts_are_refused_clearly():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout2d(0.5), nn.Flatten(), nn.Linear(2 * 26 * 26, 10))
    with pytest.raises(ValueError, match=r"Dropout2d \(1\) cannot be stacked; only nn.Dropout can"):
        StackedNetwork(model, (1, 28, 28))


def test_the_memory_estimate_counts_state_and_activations():
    network = StackedNetwork(build_model("model_a"), (1, 28, 28))
    parameters = 3_382_346
    assert network.num_parameters == parameters
    assert network.training_bytes(50) > 4 * 5 * parameters
    assert network.training_bytes(100) > network.training_bytes(50)


def test_benign_agents_expose_the_seed_their_round_uses():
    setup = prepare(preset("smoke"), download=False)
    agents = build_agents(setup, torch.device("cpu"))
    benign = [a for a in agents if isinstance(a, BenignAgent)]
    seeds = {(a.agent_id, r): a.stream_seed(r) for a in benign for r in (1, 2)}
    assert len(set(seeds.values())) == len(seeds)


@pytest.mark.parametrize("model_name", ["fast_cnn", "model_a"])
def test_one_model_evaluated_by_a_team_is_the_model_evaluated_alone(model_name):
    """Each thread takes whole evaluation batches of the validation set, so the numbers are the same, bit for bit."""
    config = preset("smoke", model=model_name)
    setup = prepare(config, DataSource(download=False))
    params = initial_parameters(config, 10)
    validation = LabelledData(setup.validation.x[:1_050], setup.validation.y[:1_050])  # cuts at 500 and 1,000
    alone = Evaluator(build_model(config.model), validation, setup.targets)
    shared = Evaluator(build_model(config.model), validation, setup.targets, team=ParallelExecutor(workers=2).team)
    with one_intra_op_thread():  # the team's threads have one intra-op thread each, as a parallel run's main thread
        (evaluation, targets), (expected, expected_targets) = shared.evaluate(params), alone.evaluate(params)
    assert evaluation == expected
    assert targets == expected_targets
