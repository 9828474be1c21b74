"""The command line: ``python -m fedutils run …`` and ``python -m fedutils presets``.

The experiment's options map onto fields of
:class:`~fedutils.config.ExperimentConfig`, and the machine's onto
:class:`~fedutils.run_options.RunOptions`. The attack, aggregation and check
options are not written here: each is generated from the field of the
plug-in class that takes it (:func:`fedutils.options.cli_flag`), so a new
attack, rule or check brings its flags and their help with it. The command
line and the chapters run exactly the same code. Mistakes in the input get
one sentence on standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
import time
import typing
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fedutils.aggregators import AGGREGATORS, PRE_AGGREGATORS, FedAvg, NormClip, ServerRule
from fedutils.aggregators.server import NORM_CLIP_RULE
from fedutils.analysis import detection_rates, rounds_frame
from fedutils.attacks import ATTACK_CLASSES, ATTACKS
from fedutils.checks import CHECKS, ServerChecks
from fedutils.config import ExperimentConfig, PartitionScheme
from fedutils.data.targets import Target
from fedutils.errors import ConfigError, FedutilsError
from fedutils.models import ModelName
from fedutils.options import CLI_FLAG, Choice, CliFlag
from fedutils.presets import PRESETS, preset
from fedutils.run_options import DataSource, EngineName, ExecutorName, GpuArithmetic, RunOptions
from fedutils.runner import run_experiment
from fedutils.training import BatchOrder

PROG = "python -m fedutils"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
NO_EARLY_STOP = "none"
NO_ATTACK = "none"
HELP_WIDTH = 100
"""The width the lists of attacks, rules and checks at the end of ``--help`` are wrapped to."""

RUN_DESCRIPTION = """\
Run federated learning with FedAvg (Bhagoji et al. 2019, §2): in each round
the server sends the global model w_G to k·C agents, each trains locally for
E epochs with a fresh Adam and returns its update δ_i, and the server adds
Σ α_i δ_i with α_i = 1/k. After each round the global model is evaluated on
the validation set (the test set, as in the paper), on the target example(s),
and each agent's w_G + δ_i is evaluated too.

One agent can attack (--attack). The server can check every update before
aggregating it (--check, §3.3), observing only or filtering flagged updates
out, and aggregate with a Byzantine-robust rule (--aggregator) behind
pre-aggregators such as norm clipping (--pre-aggregator). The attacks, rules,
pre-aggregators and checks are listed at the end, each with the options that
apply to it.

Start from a preset and change what you need; a finished run is cached by
its configuration, so running the same command again is instant."""

RUN_EXAMPLES = """\
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
  python -m fedutils run --preset fast --attack explicit_boosting --aggregator median \\
      --pre-aggregator norm_clip --clip-norm 3      # clip every update, then the coordinate-wise median
  python -m fedutils run --preset smoke --dropout 0.3 --engine flower   # on Flower, agents dropping out
  python -m fedutils presets                                    # what each preset sets"""

RUN_JSON = """\
the JSON file is a list with one object per round: round, val_accuracy,
val_loss, target_confidence, target_predicted (for the first target),
targets_hit, seconds, targets (all targets) and agents (per agent: id,
is_malicious, update_norm, the val_accuracy and target_confidence of
w_G + δ_i, whether it was aggregated, and what the rule did with it) and,
with --check, checks (per check and agent: flagged, statistic, threshold and
the measurements behind them); with a trigger backdoor (model_replacement,
neurotoxin), attack_success (the global model's accuracy on stamped images
of the other classes); with a rule that remembers across rounds
(centered_clipping, foolsgold), server_state. With --check or fltrust,
validation accuracy is reported on the test examples the server did not
keep for itself."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@dataclasses.dataclass(frozen=True)
class FlagUse:
    """One option a flag sets: ``field`` of the plug-in class ``owner``."""

    owner: type
    field: dataclasses.Field
    spec: CliFlag

    @property
    def owner_name(self) -> str:
        return getattr(self.owner, "name", "") or self.owner.__name__


class Family:
    """The flags of a family of plug-ins (the attacks, the server's rules, its checks), generated from the
    fields of their classes that carry a :func:`~fedutils.options.cli_flag`.

    Args:
        classes: the members' options classes.
        containers: classes whose flags apply whichever members are chosen (``ServerChecks``' mode).
    """

    def __init__(self, classes: Sequence[type], containers: Sequence[type] = ()) -> None:
        self.members = list(classes)
        self.containers = list(containers)
        self.uses: dict[str, list[FlagUse]] = defaultdict(list)
        for owner in [*self.members, *self.containers]:
            for field in dataclasses.fields(owner):
                spec = field.metadata.get(CLI_FLAG)
                if spec is not None:
                    self.uses[spec.flag].append(FlagUse(owner, field, spec))

    @staticmethod
    def dest(flag: str) -> str:
        """The attribute of the parsed arguments that holds ``flag``'s value."""
        return flag.lstrip("-").replace("-", "_")

    def add_to(self, group: argparse._ArgumentGroup) -> None:
        """One argument per flag, its help and type read from the fields it sets."""
        for flag, uses in self.uses.items():
            spec = uses[0].spec
            options: dict[str, Any] = {"dest": self.dest(flag), "help": self._help(uses)}
            if spec.count is not None:
                options |= {"nargs": spec.count, "type": int, "metavar": spec.metavar or self.dest(flag).upper()}
            elif spec.words is not None:
                options["choices"] = list(spec.words)
            else:
                kinds = {kind for use in uses for kind in _field_kinds(use.owner, use.field)}
                choice = next((k for k in kinds if isinstance(k, type) and issubclass(k, Choice)), None)
                if choice is not None:
                    options["choices"] = [member.value for member in choice]
                else:
                    options["type"] = float if float in kinds else int if int in kinds else str
                    options["metavar"] = spec.metavar or self.dest(flag).upper()
            group.add_argument(flag, **options)

    def _help(self, uses: Sequence[FlagUse]) -> str:
        """What the flag sets for each class, grouped where the classes agree: ``a, b: help (default x)``."""
        described: dict[str, list[FlagUse]] = defaultdict(list)
        for use in uses:
            described[use.spec.help + _default_text(use.field)].append(use)
        if len(described) == 1:
            text, group = next(iter(described.items()))
            owners = [use.owner_name for use in group if use.owner in self.members]
            return text if not owners or len(owners) == len(self.members) else f"{', '.join(owners)}: {text}"
        return "; ".join(f"{', '.join(use.owner_name for use in group)}: {text}" for text, group in described.items())

    def given(self, args: argparse.Namespace) -> dict[str, Any]:
        """The family's flags given on the command line, with their values."""
        return {
            flag: getattr(args, self.dest(flag)) for flag in self.uses if getattr(args, self.dest(flag)) is not None
        }

    def options_for(self, owner: type, args: argparse.Namespace) -> dict[str, Any]:
        """The options of ``owner`` that the command line sets (field name → value)."""
        options = {}
        for flag, value in self.given(args).items():
            for use in self.uses[flag]:
                if use.owner is owner:
                    options[use.field.name] = value if use.spec.words is None else use.spec.words[value]
        return options

    def refuse_unused(self, args: argparse.Namespace, chosen: Iterable[type], label: str) -> None:
        """Refuse a flag given that applies to none of the ``chosen`` classes.

        Raises:
            ConfigError: naming the flag, what was chosen (``label``) and what the flag applies to.
        """
        chosen = set(chosen) | set(self.containers)
        for flag in self.given(args):
            if not any(use.owner in chosen for use in self.uses[flag]):
                owners = ", ".join(use.owner_name for use in self.uses[flag])
                raise ConfigError(f"{flag} does not apply to {label}; it applies to: {owners}.")

    def catalogue(self, names: Mapping[str, type], title: str) -> str:
        """The family's members for ``--help``'s epilog: one line each, with the flags that apply to it."""
        lines = [f"{title}:"]
        shared = [flag for flag, uses in self.uses.items() if {use.owner for use in uses} >= set(self.members)]
        for name, owner in names.items():
            own = [f for f, uses in self.uses.items() if f not in shared and any(use.owner is owner for use in uses)]
            text = f"{name:<18} {getattr(owner, 'summary', '')}" + (f" [{' '.join(own)}]" if own else "")
            lines += textwrap.wrap(
                text, HELP_WIDTH, initial_indent="  ", subsequent_indent=" " * 21, break_on_hyphens=False
            )
        if shared:
            lines.append(f"  (every one takes {' '.join(shared)})")
        return "\n".join(lines)


ATTACK_OPTIONS = Family(ATTACK_CLASSES)
SERVER_OPTIONS = Family([*AGGREGATORS.values(), *PRE_AGGREGATORS.values()], containers=[ServerRule])
CHECK_OPTIONS = Family(list(CHECKS.values()), containers=[ServerChecks])

AGGREGATOR_CHOICES = {**AGGREGATORS, NORM_CLIP_RULE: FedAvg}
"""The rules ``--aggregator`` takes: the registry's, and fedutils 0.2's ``norm_clip`` (FedAvg behind norm clipping,
the same as ``--aggregator fedavg --pre-aggregator norm_clip``)."""


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
        epilog=_run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_options(run)
    commands.add_parser("presets", help="list the named presets and the options they set")
    return parser


def _run_epilog() -> str:
    catalogues = [
        ATTACK_OPTIONS.catalogue(ATTACKS, "attacks (--attack; one malicious agent)"),
        SERVER_OPTIONS.catalogue(AGGREGATORS, "aggregation rules (--aggregator; default: FedAvg)"),
        SERVER_OPTIONS.catalogue(PRE_AGGREGATORS, "pre-aggregators (--pre-aggregator; run in front of the rule)"),
        CHECK_OPTIONS.catalogue(CHECKS, "server checks (--check)"),
    ]
    return "\n\n".join([RUN_EXAMPLES, *catalogues, RUN_JSON])


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
        "--dropout",
        type=float,
        metavar="P",
        help="the chance that a selected agent drops out of a round and sends nothing (default 0)",
    )
    experiment.add_argument(
        "--no-agent-eval", action="store_true", help="skip evaluating every w_G + δ_i (faster, fewer records)"
    )
    attack = run.add_argument_group("attack (one malicious agent; each option applies to the attacks it names)")
    attack.add_argument("--attack", choices=[NO_ATTACK, *ATTACKS], help="none (default) or an attack listed below")
    ATTACK_OPTIONS.add_to(attack)
    server = run.add_argument_group("aggregation (the paper's server uses FedAvg)")
    server.add_argument(
        "--aggregator", choices=list(AGGREGATOR_CHOICES), help="the aggregation rule (listed below; default fedavg)"
    )
    server.add_argument(
        "--pre-aggregator",
        action="append",
        choices=list(PRE_AGGREGATORS),
        help="a stage in front of the rule (listed below); repeat for several, applied in order",
    )
    SERVER_OPTIONS.add_to(server)
    checks = run.add_argument_group("server checks (every update is inspected before aggregation)")
    checks.add_argument(
        "--check", action="append", choices=list(CHECKS), help="a check listed below; repeat for several"
    )
    CHECK_OPTIONS.add_to(checks)
    machine = run.add_argument_group(
        "machine and files (they change speed, not results; --gpu-arithmetic fast excepted)"
    )
    machine.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or cuda:N")
    _add_choice(
        machine,
        "--executor",
        ExecutorName.AUTO,
        "how each round's local training runs: 'batched' trains the honest agents together as one stacked "
        "model (fast on a GPU), 'parallel' spreads them over the CPU cores (one thread each), 'sequential' "
        "trains one after another; 'auto' (default) picks batched on CUDA or MPS, parallel on a multi-core CPU. "
        "All give the same results up to float rounding",
    )
    _add_choice(
        machine,
        "--engine",
        EngineName.SIMULATOR,
        "what runs the federation: 'simulator' (default), fedutils' own round loop in this process, or "
        "'flower', Flower's simulation engine (Ray) with each agent a Flower client (pip install "
        "fedutils[flower]). The same records either way; each engine's runs are cached apart",
    )
    _add_choice(
        machine,
        "--gpu-arithmetic",
        GpuArithmetic.REPRODUCIBLE,
        "on CUDA only: 'reproducible' (default) turns TF32 off and asks cuDNN for deterministic algorithms, "
        "so a run gives the same numbers again on the same GPU; 'fast' allows TF32 and cuDNN's autotuning "
        "(faster on Ampere and newer GPUs, about 1e-3 relative error per product, not the same numbers twice; "
        "such runs are cached apart and marked in their records)",
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
    "dropout": "dropout",
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
    attack = attack_from_args(args)
    if attack is not None:
        changes["attack"] = attack
    return preset(args.preset, **changes)


def attack_from_args(args: argparse.Namespace) -> Any:
    """The attack the parsed options describe, or ``None`` without ``--attack`` (or with ``none``)."""
    given = ATTACK_OPTIONS.given(args)
    if args.attack in (None, NO_ATTACK):
        if given:
            raise ConfigError(f"{', '.join(given)} need --attack, one of: {', '.join(ATTACKS)}.")
        return None
    kind = ATTACKS[args.attack]
    ATTACK_OPTIONS.refuse_unused(args, [kind], args.attack)
    return kind(**ATTACK_OPTIONS.options_for(kind, args))


def aggregator_from_args(args: argparse.Namespace) -> ServerRule | None:
    """The server's aggregation the parsed options describe, or ``None`` without ``--aggregator`` or
    ``--pre-aggregator`` (the paper's FedAvg)."""
    given = SERVER_OPTIONS.given(args)
    stages = list(args.pre_aggregator or [])
    if args.aggregator is None and not stages:
        if given:
            raise ConfigError(f"{', '.join(given)} need --aggregator, one of: {', '.join(AGGREGATOR_CHOICES)}.")
        return None
    name = args.aggregator or FedAvg.name
    if name == NORM_CLIP_RULE:
        stages.insert(0, NormClip.name)
    kind = AGGREGATOR_CHOICES[name]
    chosen = [kind, *(PRE_AGGREGATORS[stage] for stage in stages)]
    SERVER_OPTIONS.refuse_unused(args, chosen, " → ".join([*stages, kind.name]))
    pre = []
    for stage in stages:
        owner = PRE_AGGREGATORS[stage]
        options = SERVER_OPTIONS.options_for(owner, args)
        _require_fields(owner, options, stage)
        pre.append(owner(**options))
    return ServerRule(
        kind(**SERVER_OPTIONS.options_for(kind, args)), tuple(pre), **SERVER_OPTIONS.options_for(ServerRule, args)
    )


def checks_from_args(args: argparse.Namespace) -> ServerChecks | None:
    """The server's checks the parsed options describe, or ``None`` without ``--check``."""
    given = CHECK_OPTIONS.given(args)
    if not args.check:
        if given:
            raise ConfigError(f"{', '.join(given)} need --check, one of: {', '.join(CHECKS)}.")
        return None
    chosen = [CHECKS[name] for name in args.check]
    for flag in given:
        owners = [use.owner for use in CHECK_OPTIONS.uses[flag]]
        if not any(owner in chosen or owner is ServerChecks for owner in owners):
            name = owners[0].name
            raise ConfigError(f"{flag} applies to the {name} check; add --check {name}.")
    checks = tuple(CHECKS[name](**CHECK_OPTIONS.options_for(CHECKS[name], args)) for name in dict.fromkeys(args.check))
    return ServerChecks(checks, **CHECK_OPTIONS.options_for(ServerChecks, args))


def _add_choice(group: argparse._ArgumentGroup, flag: str, default: Choice, help_text: str) -> None:
    """A flag whose values are the members of ``default``'s :class:`~fedutils.options.Choice`."""
    group.add_argument(flag, choices=[choice.value for choice in type(default)], default=default.value, help=help_text)


def run_options_from_args(args: argparse.Namespace) -> RunOptions:
    """How and where the parsed options say the run executes."""
    return RunOptions(
        device=args.device,
        executor=args.executor,
        engine=args.engine,
        data=DataSource(args.data_root, not args.no_download),
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
        gpu_arithmetic=args.gpu_arithmetic,
    )


def _require_fields(owner: type, options: Mapping[str, Any], name: str) -> None:
    """Refuse a stage whose required options (fields without a default) were not given."""
    for field in dataclasses.fields(owner):
        missing = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if missing and field.name not in options:
            spec = field.metadata.get(CLI_FLAG)
            what = f"{spec.flag} {spec.metavar or ''}".rstrip() + f" ({spec.help})" if spec else field.name
            raise ConfigError(f"{name} needs {what}.")


def _field_kinds(owner: type, field: dataclasses.Field) -> tuple[Any, ...]:
    hint = typing.get_type_hints(owner)[field.name]
    arguments = typing.get_args(hint)
    return arguments if arguments else (hint,)


def _default_text(field: dataclasses.Field) -> str:
    default = field.default
    if default is dataclasses.MISSING or default is None:
        return ""
    spec = field.metadata.get(CLI_FLAG)
    if spec is not None and spec.words is not None:
        default = next(word for word, value in spec.words.items() if value == default)
    return f" (default {default.value if isinstance(default, Choice) else default})"


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
    options = run_options_from_args(args)
    started = time.perf_counter()
    result = run_experiment(config, options)
    frame = rounds_frame(result)
    columns = ["val_accuracy", "val_loss", "target_confidence", "target_predicted", "seconds"]
    if "attack_success" in frame:  # a trigger backdoor: its attack success rate beside the paper's target
        columns.insert(3, "attack_success")
    table = frame[columns]
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
