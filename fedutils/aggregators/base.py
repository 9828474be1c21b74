"""The one shape of aggregation rules and pre-aggregators, what they return, and the checks of their input.

A rule takes ``updates`` of shape ``(n_agents, n_params)`` — row i is agent
i's flat update δ_i — and the agents' aggregation ``weights`` α_i of shape
``(n_agents,)``, and returns an :class:`Aggregation`: the global step and a
report of what the rule did with each row, so the federation can record,
for example, the rounds in which Krum chose the attacker.

Each rule is also a class (:class:`Aggregator`): a frozen dataclass of its
options, validated on construction, called once per round on the stacked
updates. A :class:`PreAggregator` has the same shape and runs in front of any
rule (norm clipping before Krum, as the literature composes them).
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import torch

from fedutils.errors import ConfigError
from fedutils.options import Choice, normalise_fields, replace_options, require_non_negative_int
from fedutils.seeding import Stream, derive_seed


class RuleState(abc.ABC):
    """What a rule carries from one round to the next (centered clipping's centre, FoolsGold's histories).

    The round loop holds it (a rule itself is a frozen set of options), passes it in as
    :attr:`ServerContext.state` and takes the next one from :attr:`Aggregation.state`; each round's record
    shows its :meth:`summary`.
    """

    @abc.abstractmethod
    def summary(self) -> dict[str, float]:
        """A few numbers that describe the state, for the round's record."""


@dataclass(frozen=True)
class Aggregation:
    """A rule's result.

    Attributes:
        step: the global step, shape ``(n_params,)``. FedAvg returns Σ_i α_i δ_i;
            the robust rules return an estimate of one typical update (what the
            authors added to the global model with weight 1, SPEC §7).
        selected: per row, whether the rule used that update (Krum's choice,
            Multi-Krum's and Bulyan's selections; every row for the others).
        coordinate_share: per row, the fraction of coordinates in which that
            row's value entered the step (coordinate-wise rules), else ``None``.
        clipped: per row, whether its update was scaled down (norm clipping), else ``None``.
        weight: per row, its share of the step's weight when the rule weighs the updates itself (FLTrust's trust
            scores, FoolsGold's learning rates), summing to 1 over the rows (0 everywhere when no row counts), else
            ``None``.
        cluster: per row, the cluster a clustering rule put it in (FLAME; −1 for noise), else ``None``.
        state: what a rule that remembers across rounds carries into the next round (:class:`RuleState`), else
            ``None``.
    """

    step: torch.Tensor
    selected: torch.Tensor
    coordinate_share: torch.Tensor | None = None
    clipped: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    cluster: torch.Tensor | None = None
    state: RuleState | None = None


def check_stack(updates: torch.Tensor, weights: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``updates`` is ``(n, p)`` and ``weights`` is ``(n,)``."""
    if updates.ndim != 2:
        raise ValueError(f"updates must have shape (n_agents, n_params), got {tuple(updates.shape)}")
    if weights.shape != (updates.shape[0],):
        raise ValueError(f"weights must have shape ({updates.shape[0]},), got {tuple(weights.shape)}")


def require_byzantine_margin(n: int, f: int, needed: int, rule: str, condition: str) -> None:
    """Raise a one-sentence :class:`ConfigError` unless ``n ≥ needed`` (the rule's assumption on n and f)."""
    require_non_negative_int(f, f"f (the number of Byzantine agents {rule} assumes)")
    if n < needed:
        raise ConfigError(f"{rule} with f = {f} needs {condition}, that is at least {needed} updates; got {n}.")


def row_shares(rows: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Per row 0 … n−1, the fraction of the entries of ``rows`` (row indices of the values a step used) that are it."""
    counts = torch.zeros(n, dtype=dtype, device=rows.device)
    counts.index_add_(0, rows.flatten(), torch.ones(rows.numel(), dtype=dtype, device=rows.device))
    return counts / rows.numel()


def all_rows(updates: torch.Tensor) -> torch.Tensor:
    """A ``selected`` mask that keeps every row."""
    return torch.ones(len(updates), dtype=torch.bool, device=updates.device)


class ServerNeed(Choice):
    """What a rule may need of the server besides the round's updates and weights (see :class:`ServerContext`)."""

    GLOBAL_MODEL = "global_params"
    AGENT_IDS = "agent_ids"
    RANDOMNESS = "seed"
    SERVER_UPDATE = "server_update"


NEED_WORDS: dict[ServerNeed, str] = {
    ServerNeed.GLOBAL_MODEL: "the global model w_G^{t−1} (ServerContext.global_params)",
    ServerNeed.AGENT_IDS: "the ids of the agents whose updates these are (ServerContext.agent_ids)",
    ServerNeed.RANDOMNESS: "the run's seed for its random draws (ServerContext.seed)",
    ServerNeed.SERVER_UPDATE: "the server's own update on its root data (ServerContext.server_update)",
}


@dataclass(frozen=True)
class ServerContext:
    """What a rule may use besides the round's updates and weights.

    The federation builds one per round (:meth:`for_round`); a rule or a test that needs none of it passes
    ``ServerContext()``.

    Attributes:
        weight_mask: True for the model's weights (kernels), False for its biases: the authors' Krum measures
            distances over the weights only (SPEC §7); ``None`` when the rule runs on bare vectors.
        global_params: w_G^{t−1}, the model the updates were computed from (FLAME compares the models
            w_G^{t−1} + δ_i, not the updates).
        agent_ids: per row, the agent that sent it (FoolsGold keeps a history per agent, not per row).
        round_index: the round t (numbers the rule's random draws).
        seed: the run's seed, from which the rule's random draws are derived (bucketing's shuffle, DnC's
            coordinates, FLAME's and weak DP's noise); ``None`` where no draws are allowed.
        state: what the rule carried over from the previous round (``None`` in the first).
        server_update: the server's own update g_0 from w_G^{t−1} on its root data (FLTrust).
    """

    weight_mask: torch.Tensor | None = None
    global_params: torch.Tensor | None = None
    agent_ids: tuple[int, ...] | None = None
    round_index: int = 0
    seed: int | None = None
    state: RuleState | None = None
    server_update: torch.Tensor | None = None

    def for_round(
        self,
        round_index: int,
        *,
        global_params: torch.Tensor | None = None,
        agent_ids: tuple[int, ...] | None = None,
        state: RuleState | None = None,
        server_update: torch.Tensor | None = None,
    ) -> ServerContext:
        """This context with one round's facts filled in."""
        return dataclasses.replace(
            self,
            round_index=round_index,
            global_params=global_params,
            agent_ids=agent_ids,
            state=state,
            server_update=server_update,
        )

    def rows(self, keep: torch.Tensor) -> ServerContext:
        """The context of a subset of the round's rows (``keep``: a boolean mask or row indices)."""
        if self.agent_ids is None:
            return self
        if keep.device.type == "meta":  # no values to read: as many ids as rows (a mask keeps every row there)
            count = len(self.agent_ids) if keep.dtype == torch.bool else len(keep)
            return dataclasses.replace(self, agent_ids=self.agent_ids[:count])
        picked = torch.arange(len(self.agent_ids))[keep.cpu()].tolist()
        return dataclasses.replace(self, agent_ids=tuple(self.agent_ids[i] for i in picked))

    def require(self, need: ServerNeed, who: str) -> Any:
        """The value ``need`` names; a one-sentence ``ValueError`` naming ``who`` needs it when it is missing."""
        value = getattr(self, ServerNeed(need).value)
        if value is None:
            raise ValueError(
                f"{who} needs {NEED_WORDS[ServerNeed(need)]}; the federation passes it, a caller must too."
            )
        return value

    def generator(self, purpose: int, device: torch.device | str = "cpu", who: str = "this rule") -> torch.Generator:
        """A generator for one of the rule's draws this round, seeded from the run's seed, the round and
        ``purpose`` (a number the rule picks per kind of draw), on ``device`` (the CPU for a ``meta`` device)."""
        seed = self.require(ServerNeed.RANDOMNESS, who)
        device = torch.device(device)
        generator = torch.Generator(device="cpu" if device.type == "meta" else device)
        return generator.manual_seed(derive_seed(seed, Stream.SERVER, self.round_index, purpose))


def random_normal(like: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise N(0, std²) shaped and typed like ``like``, on its device, drawn from ``generator``."""
    if like.device.type == "meta":
        return torch.empty_like(like)
    return std * torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


@dataclass(frozen=True)
class PreAggregation:
    """A pre-aggregator's output: the rows the next stage sees, and how they relate to the rows it was given.

    Attributes:
        updates: the rows passed on, shape ``(n_out, n_params)``.
        weights: their weights, shape ``(n_out,)``.
        sources: which input rows each output row is made of, a boolean ``(n_out, n_in)`` matrix (bucketing
            and mixing combine rows); ``None`` when output row i is input row i.
        clipped: per output row, whether it was scaled down, or ``None``.
    """

    updates: torch.Tensor
    weights: torch.Tensor
    sources: torch.Tensor | None = None
    clipped: torch.Tensor | None = None


@dataclass(frozen=True)
class RuleOptions:
    """What aggregation rules and pre-aggregators share: a name, options validated on construction, and a
    plain JSON form (``name`` plus the options)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    """One line on what it does, with its reference (the command line's ``--help`` lists it)."""

    def __post_init__(self) -> None:
        normalise_fields(self)
        self.validate()

    def validate(self) -> None:
        """Check the options; raise :class:`ConfigError` with one sentence naming the bad one."""

    def options(self) -> dict[str, Any]:
        """The options as plain JSON values (enums as their strings)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}

    def replace(self, **changes: Any) -> Any:
        """A copy with some options changed (validated again)."""
        return replace_options(self, changes, self.name)


@dataclass(frozen=True)
class Aggregator(RuleOptions):
    """An aggregation rule: its options at construction, one call per round (Captum's and ByzFL's shape).

    A subclass names itself (``name``), states the fewest updates its assumption on n and f
    allows (:meth:`minimum_updates`) and implements its call on the stacked updates,
    usually by calling its pure function. ``estimates_one_update`` says whether the result is
    an estimate of one update (Krum, the median, …) rather than FedAvg's weighted sum; a
    :class:`~fedutils.aggregators.server.ServerRule` then scales it into the step.
    """

    estimates_one_update: ClassVar[bool] = True
    legacy_wire: ClassVar[bool] = False
    """A rule of fedutils 0.2, whose plain form is 0.2's flat dictionary (see :mod:`~fedutils.aggregators.server`)."""
    wire_names: ClassVar[dict[str, str]] = {}
    """For a rule of 0.2, its options' names in that flat dictionary where they differ (``distance`` →
    ``krum_distance``)."""

    needs: ClassVar[frozenset[ServerNeed]] = frozenset()
    """What the rule needs of the server besides the updates (:class:`ServerContext`); the federation passes it."""

    def reserved_samples(self) -> int:
        """How many of the server's validation examples the rule trains on (FLTrust's root set); the run
        reserves them as it reserves an accuracy check's."""
        return 0

    def root_indices(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Which of the server's reserved examples (their ``labels``) the rule trains on, drawn with ``rng``: none,
        unless the rule reserves some (:meth:`reserved_samples`) and says which."""
        return np.empty(0, dtype=np.int64)

    def minimum_updates(self) -> int:
        """The fewest updates for which the rule's assumption on n and f holds."""
        return 1

    @abc.abstractmethod
    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> Aggregation:
        """The rule applied to one round's ``(n, n_params)`` updates and ``(n,)`` weights."""


@dataclass(frozen=True)
class PreAggregator(RuleOptions):
    """A stage in front of any rule (ByzFL's pre-aggregators): clipping, bucketing, mixing.

    It maps the round's rows to the rows the next stage sees and says how (:class:`PreAggregation`).
    """

    needs: ClassVar[frozenset[ServerNeed]] = frozenset()
    """What the stage needs of the server besides the updates (:class:`ServerContext`)."""

    def rows_out(self, rows_in: int) -> int:
        """How many rows it passes on when given ``rows_in``."""
        return rows_in

    @abc.abstractmethod
    def __call__(self, updates: torch.Tensor, weights: torch.Tensor, *, server: ServerContext) -> PreAggregation:
        """The rows the next stage sees."""
