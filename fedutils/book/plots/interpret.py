"""Figures of interpretability (Chapter 8): attribution maps side by side, and their similarity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from fedutils.book.plots.style import new_axes

UNSIGNED_METHODS = ("gradient", "smoothgrad")
"""Methods whose maps are magnitudes (|gradient|): drawn in grey from 0; the others are signed, drawn blue–white–red."""


def attribution_grid(
    images: torch.Tensor,
    maps: Mapping[str, Mapping[str, torch.Tensor]],
    captions: Mapping[str, Sequence[str]],
    title: str | None = None,
) -> Figure:
    """The authors' comparison grid (SPEC §8): per input, one row per model; the input, then one map per method.

    Each map is scaled to its own largest magnitude, as iNNvestigate's
    heat- and graymaps are: magnitudes (gradient, SmoothGrad) in grey, signed
    maps in blue (against the class) to red (for it).

    Args:
        images: the inputs, ``(n, 1, H, W)``.
        maps: model label → :func:`fedutils.analysis.interpret.attributions` on ``images``.
        captions: model label → one caption per input (true label, prediction, confidence).
        title: a title over the grid.
    """
    methods = list(next(iter(maps.values())))
    n_rows, n_columns = len(images) * len(maps), len(methods) + 1
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(1.25 * n_columns + 1.6, 1.35 * n_rows + 0.6), squeeze=False)
    for index, image in enumerate(images):
        for offset, (label, model_maps) in enumerate(maps.items()):
            row = axes[index * len(maps) + offset]
            row[0].imshow(image[0].numpy(), cmap="gray_r")
            row[0].set_ylabel(f"{label}\n{captions[label][index]}", rotation=0, ha="right", va="center", fontsize=7)
            for ax, method in zip(row[1:], methods, strict=True):
                values = model_maps[method][index].sum(dim=0).numpy()
                scale = float(np.abs(values).max()) or 1.0
                if method in UNSIGNED_METHODS:
                    ax.imshow(np.abs(values), cmap="gray", vmin=0.0, vmax=scale)
                else:
                    ax.imshow(values, cmap="bwr", vmin=-scale, vmax=scale)
    for ax, name in zip(axes[0], ["input", *[str(m).replace("_", " ") for m in methods]], strict=True):
        ax.set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def attribution_similarity(summary: pd.DataFrame) -> Figure:
    """How alike the benign-only model's explanations are to other models', per method: ordinary inputs vs the target.

    Bars: the mean over the ordinary inputs (whiskers: their range);
    crosses: the target input. One colour per model compared.

    Args:
        summary: :func:`fedutils.analysis.interpret.similarity_summary`.
    """
    fig, ax = new_axes(None)
    labels = list(dict.fromkeys(summary.columns.get_level_values(0)))
    measure = summary.columns.names[1]
    width = 0.8 / len(labels)
    for index, label in enumerate(labels):
        part = summary[label]
        x = np.arange(len(summary)) + (index - (len(labels) - 1) / 2) * width
        mean = part["ordinary, mean"].to_numpy()
        spread = np.vstack([mean - part["ordinary, min"].to_numpy(), part["ordinary, max"].to_numpy() - mean])
        colour = f"C{index}"
        ax.bar(x, mean, width=width, yerr=spread, capsize=2, color=colour, alpha=0.6, label=f"{label}: ordinary inputs")
        ax.scatter(x, part["target"].to_numpy(), marker="x", s=50, color=colour, zorder=3, label=f"{label}: the target")
    ax.set_xticks(range(len(summary)), [str(m).replace("_", " ") for m in summary.index], rotation=30, ha="right")
    ax.set_xlabel("attribution method")
    names = {"spearman": "Spearman correlation of |attribution|", "top_overlap": "shared top-10 % pixels (fraction)"}
    ax.set_ylabel(names.get(measure, measure))
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("How alike each model's explanations are to the benign-only model's")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig
