"""The paper's federation on Flower: fedutils' agents as Flower clients, fedutils' server as a Flower server.

Installed with ``pip install fedutils[flower]``. Flower moves the messages;
fedutils keeps the science, so a run on Flower gives the same records as the
simulator (``tests/flower/test_flower_engine.py``). It is an engine beside the
simulator, not above it: it reuses the simulator's setup and round loop and never the dispatcher
(:mod:`fedutils.runner`), which picks it when the run options say ``engine="flower"``.

* :mod:`fedutils.flower.protocol` — what travels between the server and a
  client: the global model out, the update back, and the task that says which
  experiment and round it belongs to.
* :mod:`fedutils.flower.client` — the ``ClientApp``: each Flower node is one
  agent of the experiment, honest or the attacker, built exactly as in the
  simulator; an attacker's memory of past rounds lives in the node's state.
* :mod:`fedutils.flower.server` — the ``ServerApp``: fedutils' own round loop
  (selection, checks, aggregation rule, records) with the agents' updates
  computed by the Flower nodes instead of in-process (a
  :class:`~fedutils.flower.server.FlowerExecutor` in the execution layer).
* :mod:`fedutils.flower.engine` — :func:`~fedutils.flower.engine.run`, which runs an
  experiment on Flower's simulation engine (Ray) in this process; what
  ``run_experiment(config, RunOptions(engine="flower"))`` and ``--engine flower`` call.
* :mod:`fedutils.flower.secure` — :func:`~fedutils.flower.secure.run_secure_aggregation`:
  FedAvg under Flower's SecAgg+, keeping what the server was handed (only the
  average), on which the experiment's checks then run.

:mod:`fedutils.flower.deployment` (``python scripts/flower_deployment.py``) runs the same apps as a real
deployment: a SuperLink and one SuperNode per agent as separate processes, talking over the network (HTTP,
in Flower 1.42), with ``fedutils/flower/app`` as the Flower App that ``flwr run`` submits.
"""

import os

# Set before Flower is first imported, which reads them: no usage reports sent home (none can be sent offline,
# and a course machine should not try), and Ray's coming default for CUDA_VISIBLE_DEVICES (silences its warning).
# A value the user has set wins.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
