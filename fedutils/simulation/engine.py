"""The simulator engine: one run in this process, fedutils' round loop with an executor for the local training.

:func:`run` is what the dispatcher (:func:`fedutils.runner.run_experiment`)
calls for ``engine="simulator"``; :func:`federate` is the part other engines
reuse: given the run's setup, its agents and how their updates are computed
(the Flower adapter's executor asks Flower nodes), it builds the server's
evaluator and resources and runs :func:`~fedutils.simulation.federation.run_federation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedutils.agents import Agent
from fedutils.config import ExperimentConfig
from fedutils.device import cuda_arithmetic, resolve_device
from fedutils.models import build_model
from fedutils.records import RunResult
from fedutils.run_options import RunOptions
from fedutils.simulation.evaluator import Evaluator
from fedutils.simulation.execution import Executor, WithDropouts, build_executor
from fedutils.simulation.federation import run_federation
from fedutils.simulation.setup import Setup, build_agents, initial_parameters, prepare, server_resources


def federate(
    setup: Setup, agents: Sequence[Agent], device: torch.device, execution: Executor, *, progress: bool = True
) -> RunResult:
    """Run the federation of ``setup`` with ``agents``, their updates computed by ``execution``; the server's
    evaluator, w_G^0 and resources (aggregation rule, held-out data) are made here, on ``device``, and, with a
    trigger backdoor, the evaluator of its attack success rate."""
    config = setup.config
    evaluator = Evaluator(
        build_model(config.model, setup.dataset.num_classes).to(device),
        setup.validation.to(device),
        setup.targets.to(device),
        stacked=execution.stacked_evaluation,
        team=execution.team,
    )
    backdoor = None
    if setup.attack_test is not None:
        backdoor = Evaluator(
            build_model(config.model, setup.dataset.num_classes).to(device),
            setup.attack_test.to(device),
            setup.targets.to(device),
            team=execution.team,
        )
    initial = initial_parameters(config, setup.dataset.num_classes).to(device)
    server = server_resources(setup, device, stacked=execution.stacked_evaluation, team=execution.team)
    with execution.running():
        return run_federation(
            config,
            agents,
            evaluator,
            initial,
            server=server,
            executor=execution,
            progress=progress,
            backdoor=backdoor,
        )


def run(config: ExperimentConfig, options: RunOptions) -> RunResult:
    """Run ``config`` in this process on ``options.device``, its local training by ``options.executor``, with
    the GPU arithmetic the options ask for (:func:`~fedutils.device.cuda_arithmetic`)."""
    device = resolve_device(options.device)
    setup = prepare(config, options.data)
    # its threads and networks: only for a run that trains
    execution = build_executor(options.executor, device, memory_share=options.gpu_memory_share)
    if config.dropout:
        execution = WithDropouts(execution, config)
    fast = options.fast_gpu_arithmetic_on(device)
    with cuda_arithmetic(device, fast=fast):
        result = federate(setup, build_agents(setup, device), device, execution, progress=options.progress)
    result.fast_gpu_arithmetic = fast
    return result
