"""Renamed names keep working for one release, with one warning each.

fedutils 0.3 moved modules into layers and gave run options a type
(``CHANGELOG.md`` lists every rename). An old name still resolves, and the
first use of each warns once with a :class:`RenamedWarning` naming its
replacement; fedutils 0.4 removes them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

REMOVED_IN = "0.4"
"""The release that removes the old names."""


class RenamedWarning(FutureWarning):
    """A name of fedutils 0.2 was used; the message names what replaces it (shown once per name)."""


_warned: set[str] = set()


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn, the first time only, that ``old`` is now ``new``."""
    if old in _warned:
        return
    _warned.add(old)
    warnings.warn(
        f"{old} is renamed: use {new} (the old name goes in fedutils {REMOVED_IN}).",
        RenamedWarning,
        stacklevel=stacklevel,
    )


def moved_names(module: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that resolves the names of fedutils 0.2 that moved out of ``module``.

    Args:
        module: the module's ``__name__``.
        moved: old name → where it is now, ``"package.module"`` (same name) or ``"package.module:new_name"``.
    """

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, _, new_name = moved[name].partition(":")
        new_name = new_name or name
        warn_renamed(f"{module}.{name}", f"{target}.{new_name}")
        return getattr(importlib.import_module(target), new_name)

    return __getattr__


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports fedutils 0.2's module names that no longer exist (installed once, from :mod:`fedutils`).

    Args:
        renamed: old module → the module that replaces it whole (imported under the old name too).
        split: old module → its names → where each is now (as for :func:`moved_names`); the old module
            becomes one that resolves just those names.
    """

    def __init__(self, renamed: Mapping[str, str], split: Mapping[str, Mapping[str, str]]) -> None:
        self.renamed = dict(renamed)
        self.split = {old: dict(names) for old, names in split.items()}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.split or self._replacement(fullname) is not None:
            return importlib.util.spec_from_loader(fullname, self, is_package=fullname in self.renamed)
        return None

    def _replacement(self, fullname: str) -> str | None:
        """The new name of an old module, or of a module inside an old package."""
        for old, new in self.renamed.items():
            if fullname == old or fullname.startswith(old + "."):
                return new + fullname[len(old) :]
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module; exec_module fills it or puts the new module in its place

    def exec_module(self, module: types.ModuleType) -> None:
        """A renamed module: the new module takes the old name's place in :data:`sys.modules` (the import
        system returns what is there); a split one: the module resolves its names when asked."""
        new = self._replacement(module.__name__)
        if new is not None:
            warn_renamed(module.__name__, new, stacklevel=5)
            sys.modules[module.__name__] = importlib.import_module(new)
            return
        module.__doc__ = f"fedutils 0.2's {module.__name__}: its names moved (see CHANGELOG.md)."
        module.__getattr__ = moved_names(module.__name__, self.split[module.__name__])  # type: ignore[attr-defined]

    def install(self) -> None:
        """Put the finder first on :data:`sys.meta_path` (once): a submodule of a renamed package must be found
        here, as the new module, before the path finder would load a second copy under the old name."""
        if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
            sys.meta_path.insert(0, self)
