"""Write the records of small single-attacker runs, computed by the fedutils this runs with.

Made with fedutils 0.3.2 (before f colluding attackers and stateful rules) into
``single_attacker_runs_0.3.2.json``, which ``test_single_attacker_unchanged.py`` re-computes:

    PYTHONPATH=<a 0.3.2 checkout> python tests/simulation/golden/make_single_attacker_runs.py out.json
"""

import json
import sys

from fedutils import RunOptions, preset, run_experiment
from fedutils.aggregators import Krum, Median, NormClip, ServerRule
from fedutils.attacks import AlternatingMinimisation, ExplicitBoosting
from fedutils.checks import AccuracyCheck, DistanceCheck, ServerChecks


def configs():
    base = preset(
        "smoke",
        max_rounds=2,
        num_agents=5,
        samples_per_agent=60,
        batch_size=20,
        local_epochs=1,
        validation_samples=200,
    )
    yield "boost_krum", base.replace(attack=ExplicitBoosting(), aggregator=ServerRule(Krum(f=1)))
    checks = ServerChecks((AccuracyCheck(), DistanceCheck()), held_out_samples=100)
    yield "alt_checks", base.replace(attack=AlternatingMinimisation(), checks=checks)
    clipped_median = ServerRule(Median(), pre=(NormClip(max_norm=2.0),))
    yield "boost_clip_median", base.replace(attack=ExplicitBoosting(boost=3.0), aggregator=clipped_median)


if __name__ == "__main__":
    out = {}
    for name, config in configs():
        run = run_experiment(config, RunOptions(cache=False, progress=False, executor="sequential"))
        records = [r.to_dict() for r in run.records]
        for r in records:
            r.pop("seconds")
        out[name] = {"config": config.to_dict(), "records": records}
    with open(sys.argv[1], "w") as file:
        json.dump(out, file, indent=1)
