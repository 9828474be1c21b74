"""The simulator: the reference engine, whose setup and round loop every other engine reuses.

* :mod:`~fedutils.simulation.setup` — data, split, targets, agents and the server's resources of a run;
* :mod:`~fedutils.simulation.evaluator` — the server's evaluation of one or many flat parameter vectors;
* :mod:`~fedutils.simulation.batched` — k copies of a network trained as one stacked model;
* :mod:`~fedutils.simulation.execution` — how a round's local training runs (sequential, parallel, batched);
* :mod:`~fedutils.simulation.federation` — the round loop, engine-agnostic;
* :mod:`~fedutils.simulation.engine` — one run in this process.

Nothing here knows that Flower or Ray exist.
"""
