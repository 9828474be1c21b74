"""Progress bars: notebook widgets where they can be drawn, text elsewhere."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm as progress_bar
else:  # tqdm.auto would warn that it cannot draw widgets; plain text bars work everywhere
    from tqdm import tqdm as progress_bar

__all__ = ["progress_bar"]
