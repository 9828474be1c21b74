"""The book's figure style, and the helpers every figure shares (axes, per-round labels, legends)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 10,
}
"""The book's Matplotlib settings; chapters apply them once with :func:`use_book_style`."""


def use_book_style() -> None:
    """Apply :data:`STYLE` to all later figures."""
    plt.rcParams.update(STYLE)


def new_axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    return plt.subplots()


def label_per_round(ax: Axes, ylabel: str, title: str) -> None:
    """Axis labels, integer round ticks and the legend of a per-round plot."""
    ax.set_xlabel("round t")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    place_legend(ax)


def place_legend(ax: Axes) -> None:
    """A legend inside the axes, or beside them when it is crowded (where it cannot hide a curve)."""
    handles, _ = ax.get_legend_handles_labels()
    if len(handles) > CROWDED_LEGEND:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    else:
        ax.legend()


def legend_beside(fig: Figure, handles: Sequence, title: str | None) -> None:
    """Title the figure, lay it out, and give its panels one shared legend to their right."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)


CROWDED_LEGEND = 4
"""Legends with more entries than this go beside the plot rather than inside it."""
