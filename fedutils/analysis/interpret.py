"""Explanations of a model's decisions, and how alike two models' explanations are (SPEC §8).

The authors compared the benign-only and the attacked global model with
iNNvestigate's analysers. :func:`attributions` runs the same suite on
Captum — one call, a list of method names, one attribution map per method
with the shape of the inputs — and :func:`attribution_similarity` measures,
per method and input, how alike two models' maps are, so that "nearly
visually indistinguishable" becomes a number.

Captum's LRP needs one ``nn.ReLU`` module per activation and no functional
layers in ``forward``; every network in :mod:`fedutils.models` is built so
(and tested for it).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from tqdm import TqdmWarning

with warnings.catch_warnings():  # Captum imports tqdm.auto, which warns where notebook widgets are missing
    warnings.simplefilter("ignore", TqdmWarning)
    from captum.attr import (
        LRP,
        Deconvolution,
        DeepLift,
        GuidedBackprop,
        InputXGradient,
        IntegratedGradients,
        NoiseTunnel,
        Saliency,
    )
    from captum.attr._utils.lrp_rules import EpsilonRule

from fedutils.data.dataset import LabelledData
from fedutils.dropout import Dropout
from fedutils.errors import ConfigError
from fedutils.options import Choice, lookup, require_fraction, require_positive, require_positive_int
from fedutils.seeding import global_rngs_seeded


class Method(Choice):
    """The attribution methods (iNNvestigate's names in the authors' code → Captum's classes)."""

    GRADIENT = "gradient"  # Saliency: |∂ logit / ∂ x|
    SMOOTHGRAD = "smoothgrad"  # NoiseTunnel(Saliency): the gradient averaged over noisy copies
    INTEGRATED_GRADIENTS = "integrated_gradients"  # from an all-black baseline
    DECONVNET = "deconvnet"  # Deconvolution
    GUIDED_BACKPROP = "guided_backprop"
    INPUT_X_GRADIENT = "input_x_gradient"
    LRP_Z = "lrp_z"  # ε-rule with ε → 0 on every layer
    LRP_EPSILON = "lrp_epsilon"  # ε-rule with ε = 1 (the authors' setting)
    DEEPLIFT = "deeplift"  # rescale rule, all-black baseline


PAPER_METHODS: tuple[Method, ...] = (
    Method.GRADIENT,
    Method.SMOOTHGRAD,
    Method.INTEGRATED_GRADIENTS,
    Method.DECONVNET,
    Method.GUIDED_BACKPROP,
    Method.LRP_Z,
    Method.LRP_EPSILON,
)
"""The authors' grid, in their column order (SPEC §8)."""

ALL_METHODS: tuple[Method, ...] = tuple(Method)
"""Every method here: the paper's seven plus input × gradient and DeepLift."""

CAPTUM_NOTICES = (
    "Input Tensor 0 did not already require gradients",
    "Setting forward, backward hooks",
    "Setting backward hooks on ReLU activations",
)
"""Captum warnings that describe its normal operation (it enables input gradients, hooks ReLUs); silenced."""


@dataclass(frozen=True)
class AttributionOptions:
    """Settings of the methods that have any.

    Attributes:
        smoothgrad_samples: noisy copies SmoothGrad averages over.
        smoothgrad_stdev: the noise's standard deviation, in input units
            (images lie in [0, 1]; 0.15 is within the 10–20 % of the input
            range that Smilkov et al. recommend). iNNvestigate's
            ``noise_scale`` is not comparable.
        ig_steps: Integrated Gradients' steps along the path.
        internal_batch_size: inputs per forward pass inside Integrated
            Gradients and SmoothGrad (bounds memory).
        lrp_epsilon: ε of LRP-ε.
        seed: seeds SmoothGrad's noise, so a map is the same on every run.
    """

    smoothgrad_samples: int = 25
    smoothgrad_stdev: float = 0.15
    ig_steps: int = 50
    internal_batch_size: int = 64
    lrp_epsilon: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        require_positive_int(self.smoothgrad_samples, "smoothgrad_samples")
        require_positive(self.smoothgrad_stdev, "smoothgrad_stdev")
        require_positive_int(self.ig_steps, "ig_steps")
        require_positive_int(self.internal_batch_size, "internal_batch_size")
        require_positive(self.lrp_epsilon, "lrp_epsilon")


Attributor = Callable[[nn.Module, torch.Tensor, torch.Tensor, AttributionOptions], torch.Tensor]


def _gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor, _: AttributionOptions) -> torch.Tensor:
    return Saliency(model).attribute(x, target=target, abs=True)


def _smoothgrad(model: nn.Module, x: torch.Tensor, target: torch.Tensor, options: AttributionOptions) -> torch.Tensor:
    with global_rngs_seeded(options.seed, x.device):  # NoiseTunnel draws its noise from x's device's generator
        return NoiseTunnel(Saliency(model)).attribute(
            x,
            target=target,
            nt_type="smoothgrad",
            nt_samples=options.smoothgrad_samples,
            nt_samples_batch_size=options.internal_batch_size,
            stdevs=options.smoothgrad_stdev,
        )


def _integrated_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, options: AttributionOptions
) -> torch.Tensor:
    return IntegratedGradients(model).attribute(
        x,
        baselines=torch.zeros_like(x),
        target=target,
        n_steps=options.ig_steps,
        internal_batch_size=options.internal_batch_size,
    )


def _deconvnet(model: nn.Module, x: torch.Tensor, target: torch.Tensor, _: AttributionOptions) -> torch.Tensor:
    return Deconvolution(model).attribute(x, target=target)


def _guided_backprop(model: nn.Module, x: torch.Tensor, target: torch.Tensor, _: AttributionOptions) -> torch.Tensor:
    return GuidedBackprop(model).attribute(x, target=target)


def _input_x_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor, _: AttributionOptions) -> torch.Tensor:
    return InputXGradient(model).attribute(x, target=target)


def _lrp_z(model: nn.Module, x: torch.Tensor, target: torch.Tensor, _: AttributionOptions) -> torch.Tensor:
    return LRP(_for_lrp(model)).attribute(x, target=target)  # Captum's default: ε-rule with ε ≈ 0, the z-rule


def _lrp_epsilon(model: nn.Module, x: torch.Tensor, target: torch.Tensor, options: AttributionOptions) -> torch.Tensor:
    ruled = _for_lrp(model)  # rules are attributes on the layers: never touch the caller's model
    for layer in ruled.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            layer.rule = EpsilonRule(epsilon=options.lrp_epsilon)
    return LRP(ruled).attribute(x, target=target)


def _deeplift(model: nn.Module, x: torch.Tensor, target: torch.Tensor, _: AttributionOptions) -> torch.Tensor:
    return DeepLift(model).attribute(x, baselines=torch.zeros_like(x), target=target)


def _for_lrp(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for Captum's LRP, which finds its rules by a layer's exact type: fedutils' seeded
    dropout (:class:`fedutils.dropout.Dropout`; the identity in eval mode) becomes the ``nn.Dropout`` LRP
    passes relevance through."""
    copied = copy.deepcopy(model)
    for name, layer in list(copied.named_modules()):
        if type(layer) is Dropout:
            parent_name, _, child = name.rpartition(".")
            plain = nn.Dropout(layer.p).train(layer.training)
            setattr(copied.get_submodule(parent_name) if parent_name else copied, child, plain)
    return copied


ATTRIBUTORS: dict[Method, Attributor] = {
    Method.GRADIENT: _gradient,
    Method.SMOOTHGRAD: _smoothgrad,
    Method.INTEGRATED_GRADIENTS: _integrated_gradients,
    Method.DECONVNET: _deconvnet,
    Method.GUIDED_BACKPROP: _guided_backprop,
    Method.INPUT_X_GRADIENT: _input_x_gradient,
    Method.LRP_Z: _lrp_z,
    Method.LRP_EPSILON: _lrp_epsilon,
    Method.DEEPLIFT: _deeplift,
}


def attributions(
    model: nn.Module,
    inputs: torch.Tensor,
    methods: Sequence[Method | str] = PAPER_METHODS,
    target: torch.Tensor | Sequence[int] | None = None,
    options: AttributionOptions | None = None,
) -> dict[Method, torch.Tensor]:
    """Attribution maps of ``model``'s decisions on ``inputs``, one per method (SPEC §8).

    The model is evaluated in eval mode (dropout off) and left as it was.

    Args:
        model: a classifier returning logits (no softmax), as the authors' analysers used.
        inputs: a batch, e.g. ``(n, 1, 28, 28)`` images.
        methods: names or :class:`Method` members, in the order wanted.
        target: the class whose logit each map explains, per input; default
            the model's own prediction.
        options: method settings (:class:`AttributionOptions`).

    Returns:
        Method → attributions with the shape of ``inputs``, on the CPU.

    Raises:
        ConfigError: an unknown method name.
    """
    chosen = [lookup({m.value: m for m in Method}, str(m), "attribution method") for m in methods]
    options = options or AttributionOptions()
    with _eval_mode(model):
        if target is None:
            with torch.no_grad():
                target = model(inputs).argmax(dim=1)
        target = torch.as_tensor(target, device=inputs.device)
        with warnings.catch_warnings():
            for notice in CAPTUM_NOTICES:
                warnings.filterwarnings("ignore", message=notice, category=UserWarning)
            return {m: ATTRIBUTORS[m](model, inputs, target, options).detach().cpu() for m in chosen}


def predictions(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The predicted class and its softmax probability for each input (eval mode)."""
    with _eval_mode(model), torch.no_grad():
        confidence, predicted = model(inputs).softmax(dim=1).max(dim=1)
    return predicted.cpu(), confidence.cpu()


def prediction_shares(models: Mapping[str, nn.Module], data: LabelledData, class_names: Sequence[str]) -> pd.DataFrame:
    """Where each model's predictions go: the share of ``data`` predicted as each class, and each class's recall.

    A model that puts every input in one class shows it at once (Chapter 9:
    explicit boosting on Adult makes the global model say that nobody earns
    above 50K).

    Args:
        models: label → network (a row each).
        data: the inputs and their true classes.
        class_names: one name per class, for the column titles.
    """
    rows = {}
    for label, model in models.items():
        predicted, _ = predictions(model, data.x)
        truth = data.y.cpu()
        row = {f"predicted {name}": float((predicted == c).float().mean()) for c, name in enumerate(class_names)}
        row.update(
            {
                f"recall of {name}": float((predicted[truth == c] == c).float().mean())
                for c, name in enumerate(class_names)
            }
        )
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Dropout off while inside; the model's own mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0 … m−1 of a vector (ties broken by position)."""
    return values.argsort().argsort().to(torch.float64)


def spearman(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation between two batches of maps, one value per map.

    Only pixels where at least one of the two maps is non-zero count: methods
    that multiply by the input (Integrated Gradients, LRP, DeepLift, …) give
    the black background exactly zero in every map, and those ties would
    make any two maps look alike. A pair of maps with fewer than two such
    pixels gets NaN.
    """
    values = []
    for a, b in zip(first.flatten(1), second.flatten(1), strict=True):
        kept = (a != 0) | (b != 0)
        if int(kept.sum()) < 2:
            values.append(float("nan"))
            continue
        ra, rb = _ranks(a[kept]), _ranks(b[kept])
        ra, rb = ra - ra.mean(), rb - rb.mean()
        values.append(float((ra * rb).sum() / (ra.norm() * rb.norm())))
    return torch.tensor(values, dtype=torch.float64)


def top_k_overlap(first: torch.Tensor, second: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """Per map, the share of the ``fraction`` most relevant pixels (by absolute value) that both maps rank in
    their top."""
    require_fraction(fraction, "fraction (of pixels)")
    a, b = first.flatten(1).abs(), second.flatten(1).abs()
    k = max(1, round(fraction * a.shape[1]))
    top_a = torch.zeros_like(a, dtype=torch.bool).scatter_(1, a.topk(k, dim=1).indices, True)
    top_b = torch.zeros_like(b, dtype=torch.bool).scatter_(1, b.topk(k, dim=1).indices, True)
    return (top_a & top_b).sum(dim=1) / k


def attribution_similarity(
    first: Mapping[Method, torch.Tensor],
    second: Mapping[Method, torch.Tensor],
    labels: Sequence[str] | None = None,
    top_fraction: float = 0.1,
) -> pd.DataFrame:
    """How alike two models' maps are, per method and input: rank correlation and the overlap of the top pixels
    (both of the absolute values).

    Both compare *how much* each pixel matters (absolute attributions), as
    the authors' gray- and heatmaps invite the eye to; the rank correlation
    skips pixels that both maps leave at exactly zero (see :func:`spearman`).

    Args:
        first, second: :func:`attributions` of two models on the same inputs.
        labels: a name per input (default its index).
        top_fraction: the share of pixels counted as "most relevant".

    Returns:
        Rows (method, input); columns ``spearman`` and ``top_overlap``.
    """
    if set(first) != set(second):
        raise ConfigError("the two sets of attributions must cover the same methods.")
    frames = {}
    for method, maps in first.items():
        other = second[method]
        if maps.shape != other.shape:
            raise ConfigError(
                f"{method.value}: attributions of different shapes {tuple(maps.shape)} and {tuple(other.shape)}."
            )
        names = list(labels) if labels is not None else list(range(len(maps)))
        frames[method.value] = pd.DataFrame(
            {
                "spearman": spearman(maps.abs(), other.abs()).numpy(),
                "top_overlap": top_k_overlap(maps, other, top_fraction).numpy(),
            },
            index=pd.Index(names, name="input"),
        )
    return pd.concat(frames, names=["method"])


def similarity_summary(
    tables: Mapping[str, pd.DataFrame], target_label: str, measure: str = "spearman"
) -> pd.DataFrame:
    """One measure of several :func:`attribution_similarity` tables side by side: methods down; per table, the
    target input, its rank among all inputs from the least alike (1: an auditor ranking inputs by how much the
    two models disagree would look at the target first), and the mean (and range) over the ordinary inputs.

    Args:
        tables: label (e.g. the model compared with the benign one) → similarity table.
        target_label: the input label of the target in those tables.
        measure: ``spearman`` or ``top_overlap``.
    """
    columns = {}
    for label, table in tables.items():
        by_input = table[measure].unstack("input")
        methods = list(dict.fromkeys(table.index.get_level_values("method")))
        ordinary = by_input.drop(columns=[target_label]).loc[methods]
        target = by_input.loc[methods, target_label]
        columns[(label, "target")] = target
        columns[(label, "target's rank")] = 1 + ordinary.lt(target, axis=0).sum(axis=1)
        columns[(label, "ordinary, mean")] = ordinary.mean(axis=1)
        columns[(label, "ordinary, min")] = ordinary.min(axis=1)
        columns[(label, "ordinary, max")] = ordinary.max(axis=1)
    return pd.DataFrame(columns).rename_axis(index="method", columns=["compared with benign-only", measure])
