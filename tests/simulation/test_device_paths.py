"""Every executor, attack, check and aggregation rule, run with its tensors on the ``meta`` device under a guard.

A CPU machine cannot run a GPU, but it can run fedutils with the agents'
data, the server's data and the global model on PyTorch's ``meta`` device
(shapes, no values) under :class:`~device_guard.DeviceGuard`, which fails the
test on any op that mixes a device tensor with a CPU tensor and on any host
sync outside the allow-list that names each sync an algorithm needs. A new
rule, attack or check joins the product through its registry. The guard
itself is tested: a CPU tensor or a host sync planted in the training loop
makes it fail.
"""

from __future__ import annotations

import dataclasses

import pytest
from device_guard import ALLOWED_SYNCS, META, DeviceGuard

from fedutils import preset, training
from fedutils.aggregators import Median, ServerRule
from fedutils.aggregators.registry import AGGREGATOR_CLASSES, PRE_AGGREGATOR_CLASSES
from fedutils.attacks import ATTACK_CLASSES
from fedutils.checks import AccuracyCheck, DistanceCheck, ServerChecks
from fedutils.run_options import DataSource, ExecutorName
from fedutils.simulation.engine import federate
from fedutils.simulation.execution import BatchedExecutor, ParallelExecutor, SequentialExecutor
from fedutils.simulation.setup import build_agents, prepare
from fedutils.training import BatchOrder

AGENTS = 10
"""Enough for every rule's default f (Bulyan needs n ≥ 4f + 3)."""
SAMPLES = 16
VALIDATION = 20
"""Few examples and steps: on ``meta`` a round costs its ops' dispatch, not their size."""
EXECUTORS = {
    ExecutorName.SEQUENTIAL: SequentialExecutor,
    ExecutorName.BATCHED: BatchedExecutor,
    ExecutorName.PARALLEL: lambda: ParallelExecutor(workers=2),
}
CHECKS = {
    "no checks": None,
    "accuracy": ServerChecks((AccuracyCheck(),), held_out_samples=40),
    "distance": ServerChecks((DistanceCheck(),)),
}
REQUIRED_OPTIONS = {"max_norm": 1.0}
"""Options without a default (norm clipping's M), and the value the test gives them."""


def _made(kind):
    names = {field.name for field in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in REQUIRED_OPTIONS.items() if k in names})


RULES = {rule.name: _made(rule) for rule in AGGREGATOR_CLASSES} | {
    f"{stage.name}+median": ServerRule(Median(), pre=(_made(stage),)) for stage in PRE_AGGREGATOR_CLASSES
}
FIRST_RULES = ("fedavg", "krum", "multi_krum", "median", "trimmed_mean", "bulyan", "geometric_median")
"""The rules before issue 28: each under every executor × check. Every rule since, and every pre-aggregator, runs
under every executor without checks and under every check with the sequential executor (the executors hand the
server the same stack, so the full cross product would add time and no path)."""
SERVER_CASES = [
    (executor, checks, rule)
    for rule in RULES
    for executor in EXECUTORS
    for checks in CHECKS
    if rule in FIRST_RULES or checks == "no checks" or executor is ExecutorName.SEQUENTIAL
]


def _base():
    return preset(
        "smoke",
        max_rounds=1,
        num_agents=AGENTS,
        samples_per_agent=SAMPLES,
        batch_size=8,
        local_epochs=1,
        validation_samples=VALIDATION,
    )


def _guarded_round(config, executor) -> DeviceGuard:
    """One round of ``config`` with the agents' data, the server's data and the model on ``meta``, guarded."""
    setup = prepare(config, DataSource(download=False))
    agents = build_agents(setup, META)
    with DeviceGuard().in_every_thread() as guard:
        federate(setup, agents, META, executor, progress=False)
    return guard


class ServerOnly:
    """An executor that trains nothing: it hands the server updates of the right shape (on ``meta`` their values do
    not matter), and evaluates as ``executor`` does (stacked, or in a thread team)."""

    def __init__(self, executor) -> None:
        self.executor = executor
        self.stacked_evaluation = executor.stacked_evaluation
        self.team = executor.team

    def running(self):
        return self.executor.running()

    def updates(self, agents, global_params, round_index, *, progress=False):
        return global_params.new_zeros(len(agents), len(global_params))


@pytest.mark.parametrize("executor", list(EXECUTORS), ids=lambda e: e.value)
@pytest.mark.parametrize("attack", [None, *ATTACK_CLASSES], ids=lambda a: getattr(a, "name", "no attack"))
def test_training_keeps_its_tensors_on_the_device_and_syncs_only_where_allowed(executor, attack):
    """Every executor × attack: the honest agents' training (alone, stacked, in threads) and the attacker's."""
    made = None if attack is None else attack(attackers=2) if getattr(attack, "crafts_from_round", False) else attack()
    config = _base().replace(attack=made, batch_order=BatchOrder.SHUFFLED)
    guard = _guarded_round(config, EXECUTORS[executor]())
    assert not guard.violations, "\n".join(dict.fromkeys(guard.violations))


@pytest.mark.parametrize(
    ("executor", "checks", "rule"), SERVER_CASES, ids=[f"{e.value}-{c}-{r}" for e, c, r in SERVER_CASES]
)
def test_the_server_keeps_its_tensors_on_the_device_and_syncs_only_where_allowed(executor, checks, rule):
    """Every executor × check × rule: the server's checks, rule, evaluation and records, on updates of the right
    shape (what the server does with them does not depend on the attack that made them, so together with the
    test above this covers every executor × attack × check × rule)."""
    config = _base().replace(checks=CHECKS[checks], aggregator=None if rule == "fedavg" else RULES[rule])
    guard = _guarded_round(config, ServerOnly(EXECUTORS[executor]()))
    assert not guard.violations, "\n".join(dict.fromkeys(guard.violations))


def test_a_cpu_index_tensor_planted_in_the_training_loop_is_caught(monkeypatch):
    """What ``training.py`` did before its batch plan moved to the device: index device data with CPU rows."""
    original = training.batch_indices

    def rows_left_on_the_cpu(*args, **kwargs):
        return original(*args[:5])  # the device dropped: the rows stay on the host

    monkeypatch.setattr(training, "batch_indices", rows_left_on_the_cpu)
    guard = _guarded_round(_base().replace(batch_order=BatchOrder.SHUFFLED), SequentialExecutor())
    assert any("mixes meta with CPU tensors" in line and "train_locally" in line for line in guard.violations)


def test_a_host_sync_planted_in_the_training_loop_is_caught(monkeypatch):
    """A loss read every step (as explicit boosting's stopping rule does only every ``loss_check_every``)."""
    original = training.fresh_adam

    def adam_that_reads_a_weight_every_step(parameters, learning_rate):
        optimizer = original(parameters, learning_rate)
        step = optimizer.step

        def step_and_read(*args, **kwargs):
            outcome = step(*args, **kwargs)
            optimizer.param_groups[0]["params"][0].sum().item()
            return outcome

        optimizer.step = step_and_read
        return optimizer

    monkeypatch.setattr(training, "fresh_adam", adam_that_reads_a_weight_every_step)
    guard = _guarded_round(_base(), SequentialExecutor())
    assert any(line.startswith("host sync") and "train_locally" in line for line in guard.violations)


def test_every_allowed_sync_names_its_reason():
    assert all(reason.strip() for reason in ALLOWED_SYNCS.values())
