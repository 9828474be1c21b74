"""Attribution methods on the book's networks, and the similarity of two models' explanations."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from support import CACHED
from torch import nn

from fedutils import preset, run_experiment
from fedutils.analysis.interpret import (
    ALL_METHODS,
    PAPER_METHODS,
    AttributionOptions,
    Method,
    attribution_similarity,
    attributions,
    prediction_shares,
    predictions,
    similarity_summary,
    spearman,
    top_k_overlap,
)
from fedutils.attacks import ExplicitBoosting
from fedutils.data.dataset import LabelledData
from fedutils.errors import ConfigError
from fedutils.models import INPUT_SHAPES, ConvClassifier, ModelName, build_model
from fedutils.run_options import DataSource
from fedutils.simulation.setup import prepare


def _images(n: int = 2, seed: int = 0, shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def _tiny_model() -> nn.Module:
    features = nn.Sequential(nn.Conv2d(1, 2, kernel_size=3, stride=2), nn.ReLU())
    return ConvClassifier(features, num_features=2 * 13 * 13, dropout=0.1, num_classes=3)


@pytest.mark.parametrize("name", [*ModelName, "tiny"])
def test_every_method_runs_on_every_network(name):
    model = _tiny_model() if name == "tiny" else build_model(name)
    x = _images(shape=INPUT_SHAPES.get(name, (1, 28, 28)))
    maps = attributions(model, x, ALL_METHODS, options=AttributionOptions(smoothgrad_samples=3, ig_steps=5))
    assert list(maps) == list(ALL_METHODS)
    for method, values in maps.items():
        assert values.shape == x.shape, method
        assert torch.isfinite(values).all() and values.abs().sum() > 0, method


@pytest.mark.parametrize("name", [ModelName.MODEL_A, ModelName.FAST_CNN])
def test_networks_suit_lrp_one_relu_module_per_activation(name):
    """Captum's LRP sees only modules: every activation must be its own nn.ReLU, called once per forward pass."""
    model = build_model(name)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    calls = {id(m): 0 for m in relus}
    hooks = [m.register_forward_hook(lambda m, i, o: calls.__setitem__(id(m), calls[id(m)] + 1)) for m in relus]
    model(_images(1))
    for hook in hooks:
        hook.remove()
    weighted_layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(relus) == len(weighted_layers) - 1  # every layer but the output is followed by its own ReLU
    assert all(count == 1 for count in calls.values())
    assert not any(isinstance(m, nn.Flatten) for m in model.modules())  # Captum's LRP has no rule for it


def test_gradient_is_the_absolute_input_gradient_of_the_explained_logit():
    model = build_model(ModelName.FAST_CNN).eval()
    x = _images(1).requires_grad_()
    model(x)[0, 3].backward()
    maps = attributions(model, x.detach(), [Method.GRADIENT], target=[3])
    assert torch.allclose(maps[Method.GRADIENT], x.grad.abs())


def test_lrp_z_conserves_the_logit_of_a_network_without_biases():
    model = build_model(ModelName.FAST_CNN).eval()  # Keras-style initialisation: every bias is zero
    x = _images(2)
    maps = attributions(model, x, [Method.LRP_Z], target=[1, 7])
    with torch.no_grad():
        logits = model(x)[torch.arange(2), torch.tensor([1, 7])]
    assert torch.allclose(maps[Method.LRP_Z].flatten(1).sum(dim=1), logits, rtol=1e-3, atol=1e-4)


def test_attributions_leave_the_model_as_they_found_it():
    model = build_model(ModelName.FAST_CNN).train()
    before = [p.clone() for p in model.parameters()]
    attributions(model, _images(), [Method.LRP_EPSILON, Method.GUIDED_BACKPROP])
    assert model.training and not any(hasattr(m, "rule") for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_smoothgrad_is_seeded():
    model = build_model(ModelName.FAST_CNN)
    x = _images(1)
    first, again = (attributions(model, x, ["smoothgrad"])[Method.SMOOTHGRAD] for _ in range(2))
    other = attributions(model, x, ["smoothgrad"], options=AttributionOptions(seed=1))[Method.SMOOTHGRAD]
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_the_default_target_is_the_prediction_and_predictions_give_confidences():
    model = build_model(ModelName.FAST_CNN)
    x = _images(3)
    predicted, confidence = predictions(model, x)
    by_default = attributions(model, x, [Method.GRADIENT])[Method.GRADIENT]
    assert torch.equal(by_default, attributions(model, x, [Method.GRADIENT], target=predicted)[Method.GRADIENT])
    assert predicted.shape == (3,) and torch.all((confidence > 0.1) & (confidence <= 1))


def test_prediction_shares_show_a_model_that_answers_one_class():
    data = LabelledData(torch.tensor([[1.0], [2.0], [-1.0], [-3.0]]), torch.tensor([1, 1, 0, 1]))
    by_sign = nn.Linear(1, 2)
    with torch.no_grad():
        by_sign.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        by_sign.bias.zero_()
    always_first = nn.Linear(1, 2)
    with torch.no_grad():
        always_first.weight.zero_()
        always_first.bias.copy_(torch.tensor([1.0, 0.0]))
    shares = prediction_shares({"sign": by_sign, "constant": always_first}, data, ["neg", "pos"])
    assert shares.loc["sign"].tolist() == pytest.approx([0.5, 0.5, 1.0, 2 / 3])
    assert shares.loc["constant"].tolist() == pytest.approx([1.0, 0.0, 1.0, 0.0])
    assert list(shares.columns) == ["predicted neg", "predicted pos", "recall of neg", "recall of pos"]


def test_unknown_methods_and_bad_options_are_one_sentence_errors():
    with pytest.raises(ConfigError, match="unknown attribution method 'lime'; choose one of: gradient, smoothgrad"):
        attributions(build_model(ModelName.FAST_CNN), _images(1), ["lime"])
    with pytest.raises(ConfigError, match="smoothgrad_samples"):
        AttributionOptions(smoothgrad_samples=0)


def test_rank_correlation_and_top_pixel_overlap():
    a = torch.arange(100.0).reshape(1, 1, 10, 10)
    assert spearman(a, 2 * a + 1).item() == pytest.approx(1.0)
    assert spearman(a, -a).item() == pytest.approx(-1.0)
    background = torch.zeros(1, 1, 10, 10)
    background[0, 0, :2] = torch.arange(20.0).reshape(2, 10)  # mostly zero, like input × gradient on a dark image
    reversed_order = torch.zeros(1, 1, 10, 10)
    reversed_order[0, 0, :2] = torch.arange(19.0, -1.0, -1.0).reshape(2, 10)
    assert spearman(background, reversed_order).item() < -0.9  # the 80 shared zeros do not make them alike
    assert top_k_overlap(a, a, 0.1).item() == 1.0
    assert top_k_overlap(a, 99 - a, 0.1).item() == 0.0  # |·| ranks reversed: disjoint top tens
    with pytest.raises(ConfigError, match="fraction"):
        top_k_overlap(a, a, 1.5)


def test_attribution_similarity_is_high_for_one_model_and_lower_for_another():
    x = _images(4)
    first = build_model(ModelName.FAST_CNN)
    torch.manual_seed(1)
    second = build_model(ModelName.FAST_CNN)
    same = attributions(first, x, PAPER_METHODS[:2], options=AttributionOptions(smoothgrad_samples=4))
    other = attributions(second, x, PAPER_METHODS[:2], options=AttributionOptions(smoothgrad_samples=4))
    table = attribution_similarity(same, same, labels=["a", "b", "c", "d"])
    assert list(table.index.names) == ["method", "input"] and len(table) == 8
    assert (table["spearman"] > 0.999).all() and (table["top_overlap"] == 1).all()
    assert (attribution_similarity(same, other)["spearman"] < 0.99).all()
    with pytest.raises(ConfigError, match="same methods"):
        attribution_similarity(same, {Method.GRADIENT: other[Method.GRADIENT]})


def test_similarity_summary_puts_the_target_beside_the_ordinary_inputs():
    index = pd.MultiIndex.from_product([["gradient"], ["target", "1", "2"]], names=["method", "input"])
    table = pd.DataFrame({"spearman": [0.2, 0.9, 0.7], "top_overlap": [0.1, 0.5, 0.3]}, index)
    summary = similarity_summary({"explicit": table, "control": table}, "target", "top_overlap")
    assert summary.loc["gradient", ("explicit", "target")] == pytest.approx(0.1)
    assert summary.loc["gradient", ("control", "ordinary, mean")] == pytest.approx(0.4)
    assert summary.loc["gradient", ("control", "ordinary, min")] == pytest.approx(0.3)
    assert summary.loc["gradient", ("explicit", "target's rank")] == 1  # 0.1 is below both ordinary inputs


@pytest.mark.slow
def test_a_poisoned_model_explains_ordinary_images_like_its_benign_twin():
    """Chapter 8's claim on small real data (smoke preset, two rounds): explicit boosting flips the target, yet on
    ordinary test images its explanations are closer to the benign-only model's than an honest model from another
    seed is, for every method of the paper's grid."""
    base = preset("smoke", max_rounds=2, evaluate_agents=False)
    configs = {"benign": base, "attacked": base.replace(attack=ExplicitBoosting()), "twin": base.replace(seed=1)}
    models = {k: run_experiment(c, CACHED).global_model() for k, c in configs.items()}
    setup = prepare(base, DataSource(download=False))
    target, ordinary = setup.targets.x[:1], setup.dataset.test.x[:30]
    assert predictions(models["benign"], target)[0].item() == 5  # sandal
    assert predictions(models["attacked"], target)[0].item() == 7  # sneaker
    maps = {k: attributions(m, ordinary, PAPER_METHODS) for k, m in models.items()}
    alike = {k: attribution_similarity(maps["benign"], maps[k])["spearman"].groupby("method").mean() for k in configs}
    assert (alike["attacked"] > alike["twin"]).all(), pd.DataFrame(alike)
