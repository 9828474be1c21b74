"""The server's aggregation as rule classes: one call shape, pre-aggregators in front of any rule, 0.2's plain form.

Each rule class is a thin holder of options over its pure function, so it must give the pure function's
step and report bit for bit; :class:`ServerRule` composes pre-aggregators (norm clipping) with any rule and
maps what the rule did back onto the round's own rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from fedutils.aggregators import (
    AGGREGATORS,
    Bulyan,
    FedAvg,
    Krum,
    KrumDistance,
    Median,
    MultiKrum,
    NormClip,
    PreAggregation,
    PreAggregator,
    ServerContext,
    ServerRule,
    ServerStep,
    TrimmedMean,
    bulyan,
    coordinate_median,
    fedavg,
    krum,
    multi_krum,
    norm_clipping,
    trimmed_mean,
)
from fedutils.config import ExperimentConfig
from fedutils.errors import ConfigError

N, P = 9, 40


def _stack(seed: int = 0, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    updates = torch.randn(n, P, generator=generator, dtype=torch.float64)
    updates[-1] *= 25  # a boosted attacker in the last row
    return updates, torch.full((n,), 1 / n, dtype=torch.float64)


MASK = torch.arange(P) % 3 != 0
"""A weight mask: the coordinates the authors' Krum measures."""

SAME_AS_THE_PURE_FUNCTION = {
    "fedavg": (FedAvg(), lambda u, w: fedavg(u, w)),
    "krum": (Krum(f=2), lambda u, w: krum(u, w, 2)),
    "krum, authors": (Krum(distance=KrumDistance.AUTHORS), lambda u, w: krum(u, w, 1, squared=False, mask=MASK)),
    "multi_krum": (MultiKrum(f=1, selected=4), lambda u, w: multi_krum(u, w, 1, selected=4)),
    "median": (Median(), coordinate_median),
    "trimmed_mean": (TrimmedMean(f=1, trim=2), lambda u, w: trimmed_mean(u, w, 2)),
    "trimmed_mean, trim f": (TrimmedMean(f=3), lambda u, w: trimmed_mean(u, w, 3)),
    "bulyan": (Bulyan(f=1), lambda u, w: bulyan(u, w, 1)),
    "bulyan, authors": (Bulyan(distance=KrumDistance.AUTHORS), lambda u, w: bulyan(u, w, 1, mask=MASK)),
}


@pytest.mark.parametrize("label", SAME_AS_THE_PURE_FUNCTION)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_rule_class_is_its_pure_function_bit_for_bit(label, seed):
    rule, function = SAME_AS_THE_PURE_FUNCTION[label]
    updates, weights = _stack(seed)
    expected = function(updates, weights)
    result = ServerRule(rule)(updates, weights, server=ServerContext(weight_mask=MASK))
    assert torch.equal(result.step, expected.step)
    assert torch.equal(result.selected, expected.selected)
    for report in ("coordinate_share", "clipped"):
        mine, theirs = getattr(result, report), getattr(expected, report)
        assert (mine is None and theirs is None) or torch.equal(mine, theirs)


def test_norm_clipping_in_front_of_fedavg_is_sun_et_als_rule_bit_for_bit():
    updates, weights = _stack()
    expected = norm_clipping(updates, weights, 3.0)
    result = ServerRule(FedAvg(), pre=(NormClip(max_norm=3.0),))(updates, weights, server=ServerContext())
    assert torch.equal(result.step, expected.step) and torch.equal(result.clipped, expected.clipped)
    assert torch.equal(result.selected, expected.selected)


@pytest.mark.parametrize("rule", [Krum(f=1), Median(), TrimmedMean(f=1), Bulyan(f=1)], ids=lambda r: r.name)
def test_norm_clipping_composes_in_front_of_a_robust_rule(rule):
    """Clip every update to M, then the rule: the rule sees the clipped stack and the report is per agent."""
    updates, weights = _stack()
    norms = updates.norm(dim=1)
    clipped = updates * (3.0 / norms).clamp(max=1.0).unsqueeze(1)
    composed = ServerRule(rule, pre=(NormClip(max_norm=3.0),))(updates, weights, server=ServerContext())
    alone = ServerRule(rule)(clipped, weights, server=ServerContext())
    assert torch.equal(composed.step, alone.step)
    assert torch.equal(composed.selected, alone.selected)
    assert torch.equal(composed.clipped, norms > 3.0)
    assert composed.clipped[-1]  # the boosted attacker was clipped before the rule saw it
    unclipped = ServerRule(rule)(updates, weights, server=ServerContext())
    assert not torch.equal(composed.step, unclipped.step)


@dataclass(frozen=True)
class _PairMeans(PreAggregator):
    """A test-only pre-aggregator that mixes rows: output row i is the mean of input rows 2i and 2i + 1."""

    name: ClassVar[str] = "pair_means"

    def rows_out(self, rows_in: int) -> int:
        return rows_in // 2

    def __call__(self, updates, weights, *, server):
        pairs = updates[: 2 * (len(updates) // 2)].reshape(-1, 2, updates.shape[1]).mean(dim=1)
        sources = torch.zeros(len(pairs), len(updates), dtype=torch.bool)
        for i in range(len(pairs)):
            sources[i, 2 * i : 2 * i + 2] = True
        return PreAggregation(pairs, weights[: len(pairs)] * 2, sources=sources)


def test_a_rule_behind_a_mixing_stage_reports_on_the_rounds_own_rows():
    """What Krum chose among mixed rows is credited to every agent the chosen row was made of."""
    updates, weights = _stack(n=10)
    server = ServerRule(Krum(f=1), pre=(NormClip(max_norm=3.0), _PairMeans()))
    assert server.minimum_updates() == 10  # Krum with f = 1 needs 5 rows, the pairs halve the round
    result = server(updates, weights, server=ServerContext())
    clipped = NormClip(max_norm=3.0)(updates, weights, server=ServerContext())
    pairs = _PairMeans()(clipped.updates, clipped.weights, server=ServerContext())
    chosen = int(ServerRule(Krum(f=1))(pairs.updates, pairs.weights, server=ServerContext()).selected.nonzero())
    assert result.selected.tolist() == [i // 2 == chosen for i in range(10)]
    assert result.clipped.shape == (10,) and result.clipped[-1]


LEGACY_PLAIN_FORMS = {
    "fedavg": (ServerRule(FedAvg()), {}),
    "krum": (ServerRule(Krum(f=2, distance="authors")), {"f": 2, "krum_distance": "authors"}),
    "multi_krum": (ServerRule(MultiKrum(selected=5), step="fedavg"), {"krum_selected": 5, "step": "fedavg"}),
    "median": (ServerRule(Median()), {}),
    "trimmed_mean": (ServerRule(TrimmedMean(f=2, trim=3)), {"f": 2, "trim": 3}),
    "bulyan": (ServerRule(Bulyan()), {}),
    "norm_clip": (ServerRule(FedAvg(), pre=(NormClip(max_norm=41.1),)), {"clip_norm": 41.1}),
}


@pytest.mark.parametrize("name", LEGACY_PLAIN_FORMS)
def test_the_rules_of_0_2_keep_their_flat_plain_form_and_so_their_cache_keys(name):
    server, changed = LEGACY_PLAIN_FORMS[name]
    flat = {"rule": name, "f": 1, "trim": None, "clip_norm": None, "krum_selected": None}
    flat |= {"krum_distance": "squared", "step": "unit"} | changed
    assert list(server.to_dict().items()) == list(flat.items())  # the same keys in the same order
    assert ServerRule.from_dict(flat) == server


def test_pre_aggregators_and_new_rules_add_to_the_plain_form_only_when_used():
    server = ServerRule(Krum(), pre=(NormClip(max_norm=2.0),))
    plain = server.to_dict()
    assert plain["pre"] == [{"name": "norm_clip", "max_norm": 2.0}] and plain["rule"] == "krum"
    assert ServerRule.from_dict(plain) == server
    assert "pre" not in ServerRule(Krum()).to_dict()


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        ({"rule": "krum", "trim": 2}, "trim does not apply to krum"),
        ({"rule": "median", "f": 3}, "f does not apply to median"),
        ({"rule": "norm_clip"}, "norm_clip needs clip_norm"),
        ({"rule": "mean"}, "unknown aggregation rule 'mean'; choose one of: fedavg, krum"),
        ({"rule": "krum", "pre": [{"name": "bucket"}]}, "unknown pre-aggregator 'bucket'"),
        ({"rule": "krum", "speed": 2}, "unknown option 'speed'"),
    ],
)
def test_a_plain_form_with_an_option_its_rule_does_not_take_is_refused(plain, message):
    """0.2 silently ignored options that did not apply (trim on Krum); now they are one sentence."""
    with pytest.raises(ConfigError, match=message):
        ServerRule.from_dict(plain)


def test_the_step_scales_an_estimate_and_is_refused_where_the_rule_returns_the_step():
    updates, weights = _stack()
    weights = weights / 2  # half the agents' weight in the round, as with C = 0.5
    unit = ServerRule(Median())(updates, weights, server=ServerContext()).step
    scaled = ServerRule(Median(), step=ServerStep.FEDAVG)(updates, weights, server=ServerContext()).step
    assert torch.allclose(scaled, weights.sum() * unit)
    with pytest.raises(ConfigError, match="step applies to rules that estimate one update; fedavg"):
        ServerRule(FedAvg(), step="fedavg")


def test_options_are_checked_on_construction():
    with pytest.raises(ConfigError, match=r"clip_norm \(M\) must be a positive number"):
        NormClip(max_norm=0)
    with pytest.raises(ConfigError, match=r"f \(Byzantine agents the rule assumes\) must be an integer"):
        Krum(f=-1)
    with pytest.raises(ConfigError, match="krum_selected"):
        MultiKrum(selected=0)
    with pytest.raises(ConfigError, match="pre must hold pre-aggregators"):
        ServerRule(Krum(), pre=(Median(),))
    with pytest.raises(ConfigError, match="rule must be an aggregation rule"):
        ServerRule(NormClip(max_norm=1.0))


def test_a_server_checks_the_composition_against_the_round_size():
    assert ServerRule(Bulyan(f=1), pre=(NormClip(max_norm=1.0),)).minimum_updates() == 7
    with pytest.raises(ConfigError, match=r"norm_clip → bulyan with f = 2 needs at least 11 updates per round"):
        ExperimentConfig(aggregator=ServerRule(Bulyan(f=2), pre=(NormClip(max_norm=1.0),)))


def test_every_registered_rule_has_a_name_a_summary_and_one_call():
    for name, kind in AGGREGATORS.items():
        assert kind.name == name and kind.summary
        rule = kind(max_norm=3.0) if "max_norm" in {f.name for f in dataclasses.fields(kind)} else kind()
        updates, weights = _stack(n=max(N, rule.minimum_updates()))
        context = ServerContext(
            weight_mask=MASK,
            global_params=torch.zeros(P, dtype=updates.dtype),
            agent_ids=tuple(range(len(updates))),
            round_index=1,
            seed=0,
            server_update=updates.mean(dim=0),
        )
        result = rule(updates, weights, server=context)
        assert result.step.shape == (P,) and result.selected.shape == (len(updates),)
