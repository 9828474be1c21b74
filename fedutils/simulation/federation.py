"""The round loop of synchronous federated learning (Bhagoji et al. 2019, §2).

In round t the server selects k·C agents, sends them w_G^{t−1}, collects
their updates δ_i^t, and applies w_G^t = w_G^{t−1} + Σ_i α_i δ_i^t with
α_i = 1/k — or the step of a Byzantine-robust rule such as Krum (§5 of the
paper; :mod:`fedutils.aggregators`). If the server runs checks (§3.3), it
inspects the updates before aggregating, and in filter mode leaves out the
ones they flag. It then
evaluates the new global model and records the round. The loop knows
nothing about what any agent does to compute its update. In a real
federation (:mod:`fedutils.flower`) a selected agent may drop out and send
nothing: the round goes on with the updates that came, each still weighted
α_i = 1/k, and its record names the agents that dropped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fedutils.agents import Agent
from fedutils.aggregators import Aggregation, RuleState, ServerContext, ServerNeed, fedavg
from fedutils.attacks.tailored import second_phase
from fedutils.checks import Inspection, RoundUpdates, ServerChecks, ServerResources
from fedutils.config import ExperimentConfig
from fedutils.progress import progress_bar
from fedutils.records import AgentRecord, CheckRecord, RoundRecord, RunResult
from fedutils.seeding import Stream, numpy_rng
from fedutils.simulation.evaluator import Evaluator, Outcome
from fedutils.simulation.execution import AgentsDropped, Executor, SequentialExecutor


def select_agents(num_agents: int, per_round: int, rng: np.random.Generator) -> list[int]:
    """The ids of the agents taking part in a round: all of them, or ``per_round`` drawn without replacement."""
    if per_round >= num_agents:
        return list(range(num_agents))
    return sorted(int(i) for i in rng.choice(num_agents, per_round, replace=False))


def _agent_records(
    agents: Sequence[Agent],
    updates: torch.Tensor,
    outcomes: Sequence[Outcome] | None,
    handling: Sequence[dict[str, Any]],
) -> tuple[AgentRecord, ...]:
    """What the server records of each update: its norm, how it was handled and, if the candidates were
    evaluated (``outcomes``: one per agent), the accuracy and target confidence of w_G + δ_i."""
    norms = updates.norm(dim=1).tolist()
    if outcomes is None:
        seen: list[tuple[float | None, float | None]] = [(None, None)] * len(agents)
    else:
        seen = [(evaluation.accuracy, targets[0].confidence) for evaluation, targets in outcomes]
    return tuple(
        AgentRecord(agent.agent_id, agent.is_malicious, norm, accuracy, confidence, **how)
        for agent, norm, (accuracy, confidence), how in zip(agents, norms, seen, handling, strict=True)
    )


def _round_evaluations(
    evaluator: Evaluator, global_params: torch.Tensor, updates: torch.Tensor, new_params: torch.Tensor, agents: bool
) -> tuple[list[Outcome] | None, Outcome]:
    """The evaluations a round records: of every w_G^{t−1} + δ_i (if ``agents``) and of w_G^t, all in one
    call, so that a stacked or threaded evaluator shares the whole round's candidates out at once (alone, the
    new global model would take one thread while the others wait)."""
    if not agents:
        return None, evaluator.evaluate(new_params)
    outcomes = evaluator.evaluate_many(torch.cat([global_params + updates, new_params.unsqueeze(0)]))
    return outcomes[:-1], outcomes[-1]


def _rule_reports(aggregation: Aggregation, keep: torch.Tensor) -> list[dict[str, Any]]:
    """Per selected agent, what the aggregation rule did with its update (nothing, for updates filtered out)."""
    row_of = (keep.cumsum(0) - 1).tolist()  # an agent's row among the updates the rule saw
    selected = aggregation.selected.tolist()  # each read from the device once, not once per agent
    shares = None if aggregation.coordinate_share is None else aggregation.coordinate_share.tolist()
    clipped = None if aggregation.clipped is None else aggregation.clipped.tolist()
    weight = None if aggregation.weight is None else aggregation.weight.tolist()
    cluster = None if aggregation.cluster is None else aggregation.cluster.tolist()
    reports = []
    for kept, row in zip(keep.tolist(), row_of, strict=True):
        if not kept:
            reports.append({"selected": False})
            continue
        report: dict[str, Any] = {"selected": bool(selected[row])}
        if shares is not None:
            report["coordinate_share"] = float(shares[row])
        if clipped is not None:
            report["clipped"] = bool(clipped[row])
        if weight is not None:
            report["weight"] = float(weight[row])
        if cluster is not None:
            report["cluster"] = int(cluster[row])
        reports.append(report)
    return reports


def _check_records(inspection: Inspection, checks: ServerChecks, agents: Sequence[Agent]) -> tuple[CheckRecord, ...]:
    """The verdicts of a round, labelled with the agents (and whether each is the attacker) for scoring."""
    thresholds = {check.name: check.threshold for check in checks.checks}
    return tuple(
        CheckRecord(name, agent.agent_id, agent.is_malicious, v.flagged, v.statistic, thresholds[name], v.measurements)
        for name, verdicts in inspection.verdicts.items()
        for agent, v in zip(agents, verdicts, strict=True)
    )


def _updates_received(
    executor: Executor, selected: list[Agent], global_params: torch.Tensor, round_index: int, progress: bool
) -> tuple[list[Agent], torch.Tensor, tuple[int, ...]]:
    """The agents that sent an update this round, their updates, and the ids of those that dropped out."""
    try:
        return selected, executor.updates(selected, global_params, round_index, progress=progress), ()
    except AgentsDropped as partial:
        answered = [selected[i] for i in partial.answered]
        dropped = tuple(a.agent_id for i, a in enumerate(selected) if i not in set(partial.answered))
        return answered, partial.updates, dropped


def _attack_success(backdoor: Evaluator | None, params: torch.Tensor) -> float | None:
    """The attack success rate of the model ``params``: its accuracy on the trigger's attack test set."""
    return None if backdoor is None else backdoor.accuracy(params)


def _empty_round(
    round_index: int,
    evaluator: Evaluator,
    global_params: torch.Tensor,
    dropped: tuple[int, ...],
    started: float,
    backdoor: Evaluator | None,
) -> RoundRecord:
    """The record of a round in which every selected agent dropped out."""
    evaluation, target_outcomes = evaluator.evaluate(global_params)
    return RoundRecord(
        round_index,
        evaluation.accuracy,
        evaluation.loss,
        tuple(target_outcomes),
        agents=(),
        seconds=time.perf_counter() - started,
        dropped=dropped,
        attack_success=_attack_success(backdoor, global_params),
    )


def _plain_fedavg(updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
    """The paper's server when the run configures none: FedAvg, which needs nothing of the context."""
    return fedavg(updates, weights)


def run_federation(
    config: ExperimentConfig,
    agents: Sequence[Agent],
    evaluator: Evaluator,
    initial_params: torch.Tensor,
    *,
    server: ServerResources | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    backdoor: Evaluator | None = None,
) -> RunResult:
    """Run rounds until the global model reaches ``config.stop_accuracy`` or ``config.max_rounds`` pass.

    Args:
        config: the experiment (k, C, T, stopping accuracy, seed, agent evaluation).
        agents: one agent per id ``0 … k−1``, in id order.
        evaluator: the server's evaluation of candidate models.
        initial_params: w_G^0 as a flat vector, on the device the agents use.
        server: the server's aggregation rule and what its checks need
            (held-out data, weight mask); required when ``config.checks`` or
            ``config.aggregator`` is set; without it the server uses FedAvg.
        executor: how the selected agents' updates are computed
            (:mod:`fedutils.simulation.execution`); one after another by default.
        progress: show a progress bar over rounds (and over the local work within a round).
        backdoor: the evaluator of a trigger backdoor's attack test set (stamped images of the other classes,
            labelled as its target); each round records the global model's accuracy on it, the attack success
            rate.

    Returns:
        The per-round records, the final global parameters and the updates of
        the rounds in ``config.keep_updates`` (moved to the CPU).
    """
    if [a.agent_id for a in agents] != list(range(config.num_agents)):
        raise ValueError(f"expected agents with ids 0 … {config.num_agents - 1} in order")
    if (config.checks is not None or config.aggregator is not None) and server is None:
        raise ValueError("config sets checks or an aggregator, so run_federation needs server=server_resources(...)")
    aggregate = _plain_fedavg if server is None else server.aggregate
    context = ServerContext(seed=config.seed) if server is None else server.context
    rule_state: RuleState | None = None  # what a rule that remembers carries from round to round
    needs = frozenset() if server is None else server.needs
    executor = SequentialExecutor() if executor is None else executor
    sampling = numpy_rng(config.seed, Stream.AGENT_SAMPLING)
    global_params = initial_params.clone()
    records: list[RoundRecord] = []
    kept_updates: dict[int, torch.Tensor] = {}
    rounds = progress_bar(range(1, config.max_rounds + 1), desc="rounds", unit="round", disable=not progress)
    for round_index in rounds:
        started = time.perf_counter()
        selected = [agents[i] for i in select_agents(config.num_agents, config.agents_per_round, sampling)]
        selected, updates, dropped = _updates_received(executor, selected, global_params, round_index, progress)
        if not selected:  # nobody answered: the global model stays as it is
            records.append(_empty_round(round_index, evaluator, global_params, dropped, started, backdoor))
            continue
        updates = second_phase(selected, updates, round_index)  # colluding attackers craft from the round's updates
        weights = torch.full((len(selected),), config.aggregation_weight, device=updates.device)
        round_context = context.for_round(
            round_index,
            global_params=global_params,
            agent_ids=tuple(agent.agent_id for agent in selected) if ServerNeed.AGENT_IDS in needs else None,
            state=rule_state,
            server_update=None
            if server is None or server.server_update is None
            else server.server_update(global_params, round_index),
        )
        check_records: tuple[CheckRecord, ...] = ()
        keep = torch.ones(len(selected), dtype=torch.bool, device=updates.device)
        if config.checks is not None and server is not None:
            inspection = config.checks.inspect(RoundUpdates(global_params, updates, weights, round_context), server)
            check_records = _check_records(inspection, config.checks, selected)
            keep = inspection.keep
        if keep.all():
            aggregation = aggregate(updates, weights, server=round_context)
        else:
            aggregation = aggregate(updates[keep], weights[keep], server=round_context.rows(keep))
        rule_state = aggregation.state if aggregation.state is not None else rule_state
        reports = _rule_reports(aggregation, keep) if config.aggregator is not None else [{}] * len(selected)
        handling = [{"aggregated": bool(kept), **report} for kept, report in zip(keep.tolist(), reports, strict=True)]
        new_params = global_params + aggregation.step
        outcomes, (evaluation, target_outcomes) = _round_evaluations(
            evaluator, global_params, updates, new_params, config.evaluate_agents
        )
        agent_records = _agent_records(selected, updates, outcomes, handling)
        if round_index in config.keep_updates:
            kept_updates[round_index] = updates.cpu()
        global_params = new_params
        record = RoundRecord(
            round=round_index,
            val_accuracy=evaluation.accuracy,
            val_loss=evaluation.loss,
            targets=tuple(target_outcomes),
            agents=agent_records,
            seconds=time.perf_counter() - started,
            checks=check_records,
            dropped=dropped,
            server_state={} if rule_state is None else rule_state.summary(),
            attack_success=_attack_success(backdoor, new_params),
        )
        records.append(record)
        rounds.set_postfix(val_acc=f"{record.val_accuracy:.3f}", target_conf=f"{record.target_confidence:.2f}")
        if config.stop_accuracy is not None and record.val_accuracy >= config.stop_accuracy:
            break
    rounds.close()
    return RunResult(config, records, global_params.cpu(), kept_updates)
