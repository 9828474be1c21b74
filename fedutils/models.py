"""The networks, and moving between a model and its flat parameter vector.

Federated updates δ are flat vectors (one entry per parameter), so the
aggregators and checks never see a model. Every network here:

* is initialised like Keras (Xavier/Glorot-uniform weights, zero biases),
  which is what the authors' TensorFlow code got by default (SPEC §3.1);
* uses one ``nn.ReLU`` module per activation and no functional layers in
  ``forward`` (only a flatten between blocks), so Captum's LRP can attach
  its rules to every layer;
* has no buffers (no batch norm), so its parameters are its whole state.
"""

from __future__ import annotations

import torch
from torch import nn

from fedutils.dropout import Dropout
from fedutils.options import Choice


class ModelName(Choice):
    """The networks a configuration can name."""

    MODEL_A = "model_a"
    FAST_CNN = "fast_cnn"
    CENSUS_MLP = "census_mlp"
    CENSUS_MLP_TWO_LAYERS = "census_mlp_two_layers"


ADULT_FEATURES = 104
"""Columns of the Adult encoding (:mod:`fedutils.data.adult`)."""


class ConvClassifier(nn.Module):
    """Convolutional ``features``, flattened, then dense ``hidden`` → ReLU → dropout → dense (logits).

    The shape shared by the image networks here; the flatten is the only
    operation in ``forward`` that is not a module.
    """

    def __init__(
        self, features: nn.Sequential, num_features: int, dropout: float, num_classes: int, hidden: int = 128
    ) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Sequential(
            nn.Linear(num_features, hidden),
            nn.ReLU(),
            Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class ModelA(ConvClassifier):
    """The paper's Fashion-MNIST CNN, "model A" (SPEC §3.1): 3,382,346 parameters.

    conv 5×5×64 → ReLU → conv 5×5×64 → ReLU → dropout 0.25 → dense 128 → ReLU
    → dropout 0.5 → dense 10 (logits). Stride 1, 'valid' padding, no pooling.
    """

    def __init__(self, num_classes: int = 10) -> None:
        features = nn.Sequential(
            nn.Conv2d(1, 64, kernel_size=5),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=5),
            nn.ReLU(),
            Dropout(0.25),
        )
        super().__init__(features, num_features=64 * 20 * 20, dropout=0.5, num_classes=num_classes)


class FastCNN(ConvClassifier):
    """The CPU-friendly CNN of the ``fast`` preset (not in the paper): 203,634 parameters.

    conv 5×5×4 stride 2 → ReLU → dense 256 → ReLU → dropout 0.25 → dense 10:
    one cheap convolution in front of a hidden layer twice as wide as model
    A's. Chosen by measurement (the appendix's network study,
    ``scripts/network_study.py``): with the paper's local training (E = 5,
    B = 50, Adam 1e-3) and 10 agents it reaches 89 % in 7–8 rounds, and
    explicit boosting raises the paper's target's confidence as on model A
    (mean 0.92, 0.92, 0.95 at t = 2, 3, 4 over seeds 0–2; the talk: 0.63,
    0.93, 0.99), where the earlier two-convolution network of the same size
    was erratic from seed to seed. Unlike model A, the attack costs it 4–5
    points of accuracy at t = 4, and not every target follows as the
    paper's does (the appendix has both).
    """

    def __init__(self, num_classes: int = 10) -> None:
        features = nn.Sequential(nn.Conv2d(1, 4, kernel_size=5, stride=2, padding=2), nn.ReLU())
        super().__init__(features, num_features=4 * 14 * 14, dropout=0.25, num_classes=num_classes, hidden=256)


class CensusMLP(nn.Module):
    """The Adult Census network as the authors' code builds it, "census_model_1" (SPEC §3.2): 27,394 parameters.

    104 features → dense 256 → ReLU → dropout 0.5 → dense 2 (logits). The
    code meant a second hidden layer of 256, but applied it to the input, so
    Keras dropped the first; ``hidden_layers=2`` builds the intended network
    (93,186 parameters).
    """

    def __init__(self, num_classes: int = 2, hidden_layers: int = 1, num_features: int = ADULT_FEATURES) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = num_features
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, 256), nn.ReLU(), Dropout(0.5)]
            width = 256
        self.layers = nn.Sequential(*layers, nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class CensusMLPTwoLayers(CensusMLP):
    """The Adult network the authors meant to build (SPEC §3.2): two hidden layers of 256, 93,186 parameters."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__(num_classes, hidden_layers=2)


_ARCHITECTURES: dict[ModelName, type[nn.Module]] = {
    ModelName.MODEL_A: ModelA,
    ModelName.FAST_CNN: FastCNN,
    ModelName.CENSUS_MLP: CensusMLP,
    ModelName.CENSUS_MLP_TWO_LAYERS: CensusMLPTwoLayers,
}


INPUT_SHAPES: dict[ModelName, tuple[int, ...]] = {
    ModelName.MODEL_A: (1, 28, 28),
    ModelName.FAST_CNN: (1, 28, 28),
    ModelName.CENSUS_MLP: (ADULT_FEATURES,),
    ModelName.CENSUS_MLP_TWO_LAYERS: (ADULT_FEATURES,),
}
"""The shape of one input of each network (a Fashion-MNIST image, or an encoded Adult row)."""


def build_model(name: ModelName | str, num_classes: int | None = None) -> nn.Module:
    """A freshly initialised network (Keras-style init; seed the RNG first for reproducibility).

    ``num_classes`` defaults to the network's own dataset's (10 for the image networks, 2 for Adult's).
    """
    architecture = _ARCHITECTURES[ModelName(name)]
    model = architecture() if num_classes is None else architecture(num_classes)
    init_keras_style(model)
    return model


def init_keras_style(model: nn.Module) -> None:
    """Glorot-uniform weights and zero biases on every conv and dense layer, as Keras does."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (the length of the flat vector)."""
    return sum(p.numel() for p in model.parameters())


def flatten_parameters(model: nn.Module) -> torch.Tensor:
    """A detached copy of all parameters as one flat vector, in ``model.parameters()`` order."""
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()


@torch.no_grad()
def load_flat_parameters(model: nn.Module, flat: torch.Tensor) -> nn.Module:
    """Copy a flat vector (as made by :func:`flatten_parameters`) into ``model``; returns it."""
    expected = count_parameters(model)
    if flat.ndim != 1 or flat.numel() != expected:
        raise ValueError(f"flat parameter vector has shape {tuple(flat.shape)}, expected ({expected},)")
    offset = 0
    for param in model.parameters():  # copy_, not vector_to_parameters, which would alias ``flat``
        param.copy_(flat[offset : offset + param.numel()].view_as(param))
        offset += param.numel()
    return model


def weight_positions(model: nn.Module) -> torch.Tensor:
    """The positions of the weights (kernels) in the flat vector, ascending (a CPU long tensor): the entries
    :func:`weight_mask` selects, found on the host once instead of on the device every time."""
    return weight_mask(model).nonzero().squeeze(1)


def weight_mask(model: nn.Module) -> torch.Tensor:
    """Boolean mask over the flat vector: True for weights (kernels), False for biases.

    The authors' stealth statistics and some attacks use kernels only (SPEC §6.2).
    """
    return torch.cat(
        [torch.full((p.numel(),), not name.endswith("bias"), dtype=torch.bool) for name, p in model.named_parameters()]
    )
