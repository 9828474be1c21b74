"""A Sphinx extension for the API reference: every module of a package, and re-exported names that link.

``.. fedutils-package:: fedutils.aggregators`` documents the package's own docstring and then every module
in it (``:first:`` names the ones to show before the rest, which follow in alphabetical order), so a new
rule, attack or check module appears on the API page without the page being edited.

A cross-reference to a re-exported name finds its definition.

fedutils' docstrings name objects where a reader imports them (``fedutils.checks.DistanceCheck``), or by
their short name in the text of a neighbouring module (``ConfigError``, ``ExperimentConfig.to_dict``); the
API page documents each object once, where it is defined (``fedutils.checks.distance.DistanceCheck``). When
a reference finds nothing, this resolves it to the documented object it names: for a full name, the one
that *is* the same object (found by importing both); for a short one, the one documented name that ends
with it.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

ROOT_PACKAGE = "fedutils"


def _imported(dotted: str) -> Any:
    """The object ``dotted`` names, found by importing its longest importable prefix; ``None`` if nothing is."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def _documented(domain: Any, target: str) -> str | None:
    """The documented name that ``target`` refers to, or ``None``."""
    if target.startswith(ROOT_PACKAGE + "."):
        wanted = _imported(target)
        if wanted is None:
            return None
        last = target.rsplit(".", 1)[-1]
        same = [n for n in domain.objects if n.rsplit(".", 1)[-1] == last and n != target and _imported(n) is wanted]
        return same[0] if same else None
    ending = [name for name in domain.objects if name.endswith("." + target)]
    return ending[0] if len(ending) == 1 else None


def _resolve(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    name = _documented(domain, node.get("reftarget", "").lstrip("~."))
    if name is None:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], name, node, contnode)


ATTRIBUTE_KINDS = ("attribute", "data", "property")
"""What autodoc documents with one docstring of its own, which napoleon would read as ``type: description``."""


TYPE_FIELD = ":type: "
"""How napoleon writes the type it read off an attribute's docstring."""


def _plain_attribute_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """fedutils writes an attribute's docstring as a sentence ("Run-config key of a deployment: ...") and leaves
    its type to the annotation; napoleon takes the words before the first colon for a type. Put them back."""
    if what not in ATTRIBUTE_KINDS:
        return
    typed = [i for i, line in enumerate(lines) if line.startswith(TYPE_FIELD)]
    if not typed:
        return
    words = lines[typed[0]][len(TYPE_FIELD) :]
    del lines[typed[0]]
    if typed[0] > 0 and not lines[typed[0] - 1].strip():
        del lines[typed[0] - 1]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        lines.append(words)
    else:
        lines[first] = f"{words}: {lines[first].lstrip()}"


class PackageModules(SphinxDirective):
    """``.. fedutils-package:: PACKAGE``: the package (its docstring) and each of its modules (their members)."""

    required_arguments = 1
    option_spec = {"first": lambda text: text.split()}  # noqa: RUF012 - docutils reads it from the class

    def run(self) -> list[Any]:
        package = importlib.import_module(self.arguments[0])
        modules = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_"))
        first = [name for name in self.options.get("first", []) if name in modules]
        ordered = first + [name for name in modules if name not in first]
        lines = [f".. automodule:: {package.__name__}", "   :no-members:", ""]
        for name in ordered:
            lines += [f".. automodule:: {package.__name__}.{name}", "   :members:", ""]
        holder = nodes.container()
        self.state.nested_parse(StringList(lines, source=package.__name__), self.content_offset, holder)
        return list(holder.children)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("fedutils-package", PackageModules)
    app.connect("missing-reference", _resolve)
    app.connect("autodoc-process-docstring", _plain_attribute_docstring, priority=600)  # after napoleon's 500
    return {"parallel_read_safe": True, "parallel_write_safe": True}
