"""The command line: ``python -m fedutils run …`` and ``python -m fedutils presets``.

Every option maps onto a field of :class:`~fedutils.config.ExperimentConfig`
or an argument of :func:`~fedutils.experiment.run_experiment`, so the command
line and the chapters run exactly the same code. Mistakes in the input get
one sentence on standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from fedutils.aggregators import AggregationRule, KrumDistance, RuleName, ServerStep
from fedutils.attacks import ATTACKS, AdversarialModel, Estimation, EstimationUse, attack_params
from fedutils.checks import (
    CHECKS,
    DEFAULT_GAMMA,
    DEFAULT_HELD_OUT_SAMPLES,
    DEFAULT_KAPPA,
    AccuracyCheck,
    CheckMode,
    DistanceCheck,
    ServerChecks,
    check_options,
    detection_rates,
)
from fedutils.config import ExperimentConfig, PartitionScheme
from fedutils.data.targets import Target
from fedutils.errors import ConfigError, FedutilsError
from fedutils.execution import ExecutorName
from fedutils.experiment import EngineName, run_experiment
from fedutils.models import ModelName
from fedutils.presets import PRESETS, preset
from fedutils.training import BatchOrder

PROG = "python -m fedutils"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
NO_EARLY_STOP = "none"
NO_ATTACK = "none"
DISTANCE_WEIGHTS = "weights"
DISTANCE_ALL = "all"

RUN_DESCRIPTION = """\
Run federated learning with FedAvg (Bhagoji et al. 2019, §2): in each round
the server sends the global model w_G to k·C agents, each trains locally for
E epochs with a fresh Adam and returns its update δ_i, and the server adds
Σ α_i δ_i with α_i = 1/k. After each round the global model is evaluated on
the validation set (the test set, as in the paper), on the target example(s),
and each agent's w_G + δ_i is evaluated too.

The server can also check every update before aggregating it (§3.3):
accuracy checking (is w_G + δ_i much less accurate than the model built from
the other updates?) and distance ranges (do δ_i's L2 distances to the others
leave the others' own band?), observing only or filtering flagged updates out.

Start from a preset and change what you need; a finished run is cached by
its configuration, so running the same command again is instant."""

RUN_EPILOG = """\
examples:
  python -m fedutils run --preset fast --seed 0 --json out.json
  python -m fedutils run --preset paper --rounds 10            # the paper's setting (slow on a CPU)
  python -m fedutils run --preset fast --k 20 --C 0.5 --target 5454:7 --target 3846:6
  python -m fedutils run --preset fast --attack explicit_boosting            # λ = 1/α_m = 10
  python -m fedutils run --preset fast --attack alternating --stealth-steps 10 --rho 1e-4
  python -m fedutils run --preset fast --attack explicit_boosting --estimation previous
  python -m fedutils run --preset fast --attack explicit_boosting --check accuracy --check distance
  python -m fedutils run --preset fast --attack alternating --check accuracy --check-mode filter --gamma 0.05
  python -m fedutils run --preset fast --attack alternating --boost 2 --aggregator krum --f 1
  python -m fedutils run --preset fast --attack explicit_boosting --boost 1 --aggregator median
  python -m fedutils presets                                    # what each preset sets

the JSON file is a list with one object per round: round, val_accuracy,
val_loss, target_confidence, target_predicted (for the first target),
targets_hit, seconds, targets (all targets) and agents (per agent: id,
is_malicious, update_norm, the val_accuracy and target_confidence of
w_G + δ_i, and whether it was aggregated) and, with --check, checks (per
check and agent: flagged, statistic, threshold and the measurements behind
them). With --check, validation accuracy is reported on the test examples
the server did not keep for itself."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog=PROG,
        description="Reproduce 'Analyzing Federated Learning through an Adversarial Lens' (ICML 2019).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="run a federated experiment and print (and optionally save) its per-round results",
        description=RUN_DESCRIPTION,
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_options(run)
    commands.add_parser("presets", help="list the named presets and the options they set")
    return parser


def _add_run_options(run: argparse.ArgumentParser) -> None:
    experiment = run.add_argument_group("experiment (change the preset)")
    experiment.add_argument(
        "--preset", default="fast", help=f"starting configuration: {', '.join(PRESETS)} (default: fast)"
    )
    experiment.add_argument("--seed", type=int, help="seed for initialisation, sampling, batches and dropout")
    experiment.add_argument("--rounds", type=int, metavar="T", help="maximum number of rounds T")
    experiment.add_argument(
        "--stop-accuracy",
        type=_optional_fraction,
        metavar="ACC",
        help="stop once validation accuracy reaches ACC (a fraction, e.g. 0.91), or 'none' to run all T rounds",
    )
    experiment.add_argument("--k", type=int, help="number of agents k")
    experiment.add_argument("--C", type=float, help="fraction of agents selected each round, in (0, 1]")
    experiment.add_argument("--epochs", type=float, metavar="E", help="local epochs E per round")
    experiment.add_argument("--batch-size", type=int, metavar="B", help="local batch size B")
    experiment.add_argument("--lr", type=float, help="Adam learning rate for local training")
    experiment.add_argument(
        "--batch-order", choices=[o.value for o in BatchOrder], help="the authors' fixed sequential order, or shuffled"
    )
    experiment.add_argument("--model", choices=[m.value for m in ModelName], help="the network")
    experiment.add_argument(
        "--partition", choices=[p.value for p in PartitionScheme], help="IID shards (the paper) or Dirichlet"
    )
    experiment.add_argument("--alpha", type=float, help="Dirichlet concentration α (with --partition dirichlet)")
    experiment.add_argument(
        "--target",
        action="append",
        type=_target,
        metavar="INDEX:CLASS",
        help="test example INDEX the attacker wants classified as CLASS; repeat for several (default 5454:7)",
    )
    experiment.add_argument(
        "--samples-per-agent", type=int, metavar="N", help="use only the first N samples of each shard"
    )
    experiment.add_argument(
        "--no-agent-eval", action="store_true", help="skip evaluating every w_G + δ_i (faster, fewer records)"
    )
    attack = run.add_argument_group("attack (one malicious agent; options apply to the attacks that have them)")
    attack.add_argument(
        "--attack",
        choices=[NO_ATTACK, *ATTACKS],
        help="none (default), explicit_boosting, stealthy (joint objective), alternating (minimisation) "
        "or data_poisoning",
    )
    attack.add_argument("--boost", type=float, metavar="λ", help="boosting factor λ (default 1/α_m = k)")
    attack.add_argument("--rho", type=float, metavar="ρ", help="weight ρ of the distance term (default 1e-4)")
    attack.add_argument(
        "--stealth-steps", type=int, metavar="N", help="alternating: stealth steps per malicious step (default 10)"
    )
    attack.add_argument(
        "--mal-epochs",
        type=float,
        metavar="N",
        help="the attacker's epochs: Adam steps on the targets for explicit_boosting (default 5), passes over "
        "its data for stealthy and alternating (default 10), local epochs for data_poisoning (default E)",
    )
    attack.add_argument(
        "--estimation",
        choices=[e.value for e in Estimation],
        help="estimate the other agents' update from the previous round (default none)",
    )
    attack.add_argument(
        "--estimation-use",
        choices=[u.value for u in EstimationUse],
        help="pre: start the optimisation from w_G + the estimate (default); post: subtract it afterwards",
    )
    attack.add_argument(
        "--adversarial-model",
        choices=[m.value for m in AdversarialModel],
        help="stealthy and alternating: evaluate the adversarial loss at the attacker's own model w_G + δ "
        "(default) or at its estimate of the next global model w_G + α_m δ, the paper's objective",
    )
    attack.add_argument("--malicious-agent", type=int, metavar="M", help="index of the malicious agent (default k − 1)")
    server = run.add_argument_group("aggregation rule (the paper's server uses FedAvg)")
    server.add_argument(
        "--aggregator",
        choices=[r.value for r in RuleName],
        help="fedavg (default); krum or multi_krum (Blanchard et al.), median or trimmed_mean (coordinate-wise, "
        "Yin et al.), bulyan (El Mhamdi et al.), norm_clip (Sun et al.)",
    )
    server.add_argument(
        "--f",
        type=int,
        help="Byzantine agents the rule assumes (krum, multi_krum, bulyan; trimmed_mean's trim); default 1",
    )
    server.add_argument("--trim", type=int, help="trimmed_mean: values dropped at each end per coordinate (default f)")
    server.add_argument(
        "--clip-norm", type=float, metavar="M", help="norm_clip: the largest update norm kept (required)"
    )
    server.add_argument("--krum-selected", type=int, metavar="M", help="multi_krum: updates averaged (default n − f)")
    server.add_argument(
        "--krum-distance",
        choices=[d.value for d in KrumDistance],
        help="squared L2 over all parameters (Blanchard et al., default) or the authors' plain L2 over weights",
    )
    server.add_argument(
        "--server-step",
        choices=[s.value for s in ServerStep],
        help="a robust rule's estimate is added with weight 1 (unit, the authors, default) or scaled by Σ α_i = C",
    )
    checks = run.add_argument_group("server checks (every update is inspected before aggregation)")
    checks.add_argument(
        "--check",
        action="append",
        choices=list(CHECKS),
        help="accuracy: flag δ_i when w_G + δ_i is more than γ less accurate on the server's held-out data than "
        "the aggregate of the other updates; distance: flag δ_i when its L2 distances to the others leave their "
        "pairwise band by more than κ (relative to the band's top). Repeat for both.",
    )
    checks.add_argument(
        "--check-mode",
        choices=[m.value for m in CheckMode],
        help="observe: record the verdicts, aggregate everything (default); filter: leave flagged updates out",
    )
    checks.add_argument(
        "--gamma",
        type=float,
        metavar="γ",
        help=f"accuracy check: the largest allowed accuracy gap, a fraction (default {DEFAULT_GAMMA:g} = 10 points)",
    )
    checks.add_argument(
        "--kappa",
        type=float,
        metavar="κ",
        help="distance check: the largest allowed excess beyond the others' band, relative to the band's top "
        f"(default {DEFAULT_KAPPA:g})",
    )
    checks.add_argument(
        "--distance-parameters",
        choices=[DISTANCE_WEIGHTS, DISTANCE_ALL],
        help="distance check: compare weights only, as the authors did (default), or all parameters",
    )
    checks.add_argument(
        "--held-out",
        type=int,
        metavar="N",
        help=f"accuracy check: the server keeps the last N test examples as its validation data "
        f"(default {DEFAULT_HELD_OUT_SAMPLES})",
    )
    machine = run.add_argument_group("machine and files (do not change results)")
    machine.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or cuda:N")
    machine.add_argument(
        "--executor",
        choices=[e.value for e in ExecutorName],
        default=ExecutorName.AUTO.value,
        help="how each round's local training runs: 'batched' trains the honest agents together as one stacked "
        "model (fast on a GPU), 'parallel' spreads them over the CPU cores (one thread each), 'sequential' "
        "trains one after another; 'auto' (default) picks batched on CUDA or MPS, parallel on a multi-core CPU. "
        "All give the same results up to float rounding",
    )
    machine.add_argument(
        "--engine",
        choices=[e.value for e in EngineName],
        default=EngineName.SIMULATOR.value,
        help="what runs the federation: 'simulator' (default), fedutils' own round loop in this process, or "
        "'flower', Flower's simulation engine (Ray) with each agent a Flower client (pip install "
        "fedutils[flower]). The same records either way; the cache does not tell them apart, so add --no-cache "
        "to run a cached configuration again on the other engine",
    )
    machine.add_argument(
        "--data-root", metavar="DIR", help="folder with the dataset files (default: $FEDUTILS_DATA, Debian, cache)"
    )
    machine.add_argument("--no-download", action="store_true", help="never download a missing dataset")
    machine.add_argument("--json", metavar="PATH", help="write the per-round records to PATH as JSON")
    machine.add_argument("--no-cache", action="store_true", help="neither reuse nor store a cached run")
    machine.add_argument("--cache-dir", metavar="DIR", help="run cache folder (default: $FEDUTILS_CACHE or ~/.cache)")
    machine.add_argument("--quiet", action="store_true", help="no progress bars")


_OPTION_TO_FIELD = {
    "seed": "seed",
    "rounds": "max_rounds",
    "k": "num_agents",
    "C": "participation",
    "epochs": "local_epochs",
    "batch_size": "batch_size",
    "lr": "learning_rate",
    "batch_order": "batch_order",
    "model": "model",
    "partition": "partition",
    "alpha": "dirichlet_alpha",
    "samples_per_agent": "samples_per_agent",
}


_ATTACK_OPTION_TO_FIELD = {
    "boost": "boost",
    "rho": "rho",
    "stealth_steps": "stealth_steps",
    "mal_epochs": "epochs",
    "estimation": "estimation",
    "estimation_use": "estimation_use",
    "adversarial_model": "adversarial_model",
    "malicious_agent": "malicious_agent",
}


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment the parsed options describe: the preset with the given options changed."""
    changes: dict[str, Any] = {
        field: getattr(args, option) for option, field in _OPTION_TO_FIELD.items() if getattr(args, option) is not None
    }
    if args.stop_accuracy is not None:
        changes["stop_accuracy"] = None if args.stop_accuracy == NO_EARLY_STOP else args.stop_accuracy
    if args.target:
        changes["targets"] = tuple(args.target)
    if args.no_agent_eval:
        changes["evaluate_agents"] = False
    checks = checks_from_args(args)
    if checks is not None:
        changes["checks"] = checks
    aggregator = aggregator_from_args(args)
    if aggregator is not None:
        changes["aggregator"] = aggregator
    given = {option: getattr(args, option) for option in _ATTACK_OPTION_TO_FIELD if getattr(args, option) is not None}
    if args.attack in (None, NO_ATTACK):
        if given:
            raise ConfigError(f"{_flags(given)} need --attack, one of: {', '.join(ATTACKS)}.")
        return preset(args.preset, **changes)
    accepted = {f.name for f in dataclasses.fields(ATTACKS[args.attack])}
    for option in given:
        field = _ATTACK_OPTION_TO_FIELD[option]
        if field not in accepted:
            users = [name for name, params in ATTACKS.items() if field in {f.name for f in dataclasses.fields(params)}]
            raise ConfigError(f"{_flags([option])} does not apply to {args.attack}; it applies to: {', '.join(users)}.")
    changes["attack"] = attack_params(args.attack, **{_ATTACK_OPTION_TO_FIELD[o]: v for o, v in given.items()})
    return preset(args.preset, **changes)


_AGGREGATOR_OPTION_TO_FIELD = {
    "f": "f",
    "trim": "trim",
    "clip_norm": "clip_norm",
    "krum_selected": "krum_selected",
    "krum_distance": "krum_distance",
    "server_step": "step",
}


def aggregator_from_args(args: argparse.Namespace) -> AggregationRule | None:
    """The aggregation rule the parsed options describe, or ``None`` without ``--aggregator``."""
    given = {o: getattr(args, o) for o in _AGGREGATOR_OPTION_TO_FIELD if getattr(args, o) is not None}
    if args.aggregator is None:
        if given:
            raise ConfigError(f"{_flags(given)} need --aggregator, one of: {', '.join(r.value for r in RuleName)}.")
        return None
    return AggregationRule(args.aggregator, **{_AGGREGATOR_OPTION_TO_FIELD[o]: v for o, v in given.items()})


_CHECK_OPTIONS = {
    "gamma": AccuracyCheck.name,
    "kappa": DistanceCheck.name,
    "distance_parameters": DistanceCheck.name,
    "held_out": AccuracyCheck.name,
}
"""Each check option → the check it belongs to."""


def checks_from_args(args: argparse.Namespace) -> ServerChecks | None:
    """The server's checks the parsed options describe, or ``None`` without ``--check``."""
    given = [option for option in (*_CHECK_OPTIONS, "check_mode") if getattr(args, option) is not None]
    if not args.check:
        if given:
            raise ConfigError(f"{_flags(given)} need --check, one of: {', '.join(CHECKS)}.")
        return None
    for option in given:
        owner = _CHECK_OPTIONS.get(option)
        if owner is not None and owner not in args.check:
            raise ConfigError(f"{_flags([option])} applies to the {owner} check; add --check {owner}.")
    options: dict[str, dict[str, Any]] = {name: {} for name in args.check}
    if args.gamma is not None:
        options[AccuracyCheck.name]["gamma"] = args.gamma
    if args.kappa is not None:
        options[DistanceCheck.name]["kappa"] = args.kappa
    if args.distance_parameters is not None:
        options[DistanceCheck.name]["weights_only"] = args.distance_parameters == DISTANCE_WEIGHTS
    server: dict[str, Any] = {"checks": tuple(check_options(name, **values) for name, values in options.items())}
    if args.check_mode is not None:
        server["mode"] = args.check_mode
    if args.held_out is not None:
        server["held_out_samples"] = args.held_out
    return ServerChecks(**server)


def _flags(options: Iterable[str]) -> str:
    """Command-line spelling of option names: ``stealth_steps`` → ``--stealth-steps``."""
    return ", ".join(f"--{option.replace('_', '-')}" for option in options)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "presets":
            _print_presets()
        else:
            _run(args)
    except FedutilsError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _run(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    started = time.perf_counter()
    result = run_experiment(
        config,
        data_root=args.data_root,
        download=not args.no_download,
        device=args.device,
        executor=args.executor,
        engine=args.engine,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
    )
    table = result.to_frame()[["val_accuracy", "val_loss", "target_confidence", "target_predicted", "seconds"]]
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    source = "read from the cache" if result.from_cache else f"computed in {time.perf_counter() - started:.1f} s"
    print(f"{result.rounds} rounds, final validation accuracy {result.final_accuracy:.4f} ({source}).")
    if config.checks is not None:
        rates = detection_rates(result)
        print(f"Server checks ({config.checks.mode.value} mode): updates flagged")
        print(rates.to_string(float_format=lambda v: f"{v:.2f}"))
    if args.json:
        result.write_json(args.json)
        print(f"Per-round records written to {args.json}.")


def _print_presets() -> None:
    for name, config in PRESETS.items():
        print(f"{name}:")
        for key, value in config.to_dict().items():
            print(f"  {key:<20} {value}")


def _target(text: str) -> Target:
    try:
        return Target.parse(text)
    except FedutilsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _optional_fraction(text: str) -> float | str:
    """A fraction, or :data:`NO_EARLY_STOP`."""
    if text.lower() == NO_EARLY_STOP:
        return NO_EARLY_STOP
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.91 or 'none', got {text!r}") from None


def console_main() -> None:
    """The ``fedutils`` console script."""
    sys.exit(main())
