"""fedutils 0.2's names keep working for one release: each resolves to its replacement and warns once."""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from pathlib import Path

import pytest
from support import QUIET

from fedutils import ConfigError, RunOptions, _compat, preset, run_experiment
from fedutils.aggregators import Krum, ServerContext, ServerRule
from fedutils.analysis import frames
from fedutils.deprecation import RenamedWarning
from fedutils.records import Reply, RunResult

ROOT = Path(__file__).resolve().parents[2]


def _forget(name: str) -> None:
    """Forget the old name ``name`` (and its submodules) was ever imported: only the alias goes."""
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        sys.modules.pop(loaded)


@pytest.fixture
def fresh():
    """Import an old name as a first import would (the finder acts only on a module not imported yet)."""
    forgotten = []

    def import_afresh(name: str):
        _forget(name)
        forgotten.append(name)
        return importlib.import_module(name)

    yield import_afresh
    for name in forgotten:
        _forget(name)


def _renamed_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, RenamedWarning)]


@pytest.mark.parametrize(("old", "new"), list(_compat.RENAMED_MODULES.items()))
def test_a_moved_module_is_the_new_one_under_its_old_name_and_warns_once(old, new, fresh):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        module = fresh(old)
        assert importlib.import_module(old) is module
    assert module is importlib.import_module(new)
    assert _renamed_warnings(record) == [f"{old} is renamed: use {new} (the old name goes in fedutils 0.4)."]


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [(old, name, new) for old, names in _compat.SPLIT_MODULES.items() for name, new in names.items()],
)
def test_a_name_of_a_split_module_resolves_to_its_new_home_and_warns_once(old, name, new, fresh):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        module = fresh(old)
        found = getattr(module, name)
        assert getattr(module, name) is found
    assert found is getattr(importlib.import_module(new), name)
    assert _renamed_warnings(record) == [
        f"{old}.{name} is renamed: use {new}.{name} (the old name goes in fedutils 0.4)."
    ]


@pytest.mark.parametrize(("dotted", "new"), list(_compat.MOVED_ATTRIBUTES.items()))
def test_a_name_that_left_a_module_still_resolves_there_with_a_warning(dotted, new):
    module, _, name = dotted.rpartition(".")
    with pytest.warns(RenamedWarning, match=re.escape(dotted)):
        found = getattr(importlib.import_module(module), name)
    assert found is getattr(importlib.import_module(new), name)


def test_the_flower_servers_reply_record_is_the_records_reply_under_its_old_name():
    server = pytest.importorskip("fedutils.flower.server")
    with pytest.warns(RenamedWarning, match=re.escape("fedutils.flower.server.Received")):
        assert server.Received is Reply


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        importlib.import_module("fedutils.checks").nonsense  # noqa: B018


def test_the_old_run_keywords_build_run_options_with_one_warning():
    config = preset("smoke", max_rounds=1)
    with pytest.warns(RenamedWarning, match=r"run_experiment\(\.\.\., device=") as warned:
        old = run_experiment(config, cache=False, progress=False, download=False, executor="sequential")
        run_experiment(config, cache=False, progress=False, download=False)
    assert len(_renamed_warnings(warned.list)) == 1
    new = run_experiment(config, QUIET.replace(executor="sequential"))
    assert _without_seconds(old) == _without_seconds(new)
    with pytest.raises(ConfigError, match=r"takes run options or their 0\.2 keywords, not both"):
        run_experiment(config, RunOptions(), cache=False)


def test_a_submodule_of_a_renamed_package_is_the_one_module_not_a_copy(fresh):
    with pytest.warns(RenamedWarning):
        old = fresh("fedutils.exercises")
    from fedutils.exercises import fedavg as old_fedavg

    assert old is importlib.import_module("fedutils.book.exercises")
    assert old_fedavg is importlib.import_module("fedutils.book.exercises.fedavg")


def _without_seconds(run: RunResult) -> list[dict]:
    return [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in run.records]


def test_run_results_old_frame_methods_are_the_new_functions(checked_run):
    for old, new in _compat.RUN_RESULT_METHODS.items():
        with pytest.warns(RenamedWarning, match=f"RunResult.{old}"):
            frame = getattr(checked_run, old)()
        assert frame.equals(getattr(frames, new)(checked_run))


def test_the_old_plain_config_and_aggregation_rule_still_read(checked_run):
    with pytest.warns(RenamedWarning, match=r'run\.config\["name"\]'):
        assert checked_run.config["seed"] == checked_run.config.seed
    with pytest.warns(RenamedWarning, match="AggregationRule"):
        from fedutils.aggregators import AggregationRule

        rule = AggregationRule("krum", f=1)
    assert rule == ServerRule(Krum(f=1))
    updates = checked_run.updates[1]
    weights = updates.new_full((len(updates),), 0.1)
    with pytest.warns(RenamedWarning, match=r"AggregationRule\.aggregate"):
        old = rule.aggregate(updates, weights, None)
    assert old.selected.equal(rule(updates, weights, server=ServerContext()).selected)
    assert isinstance(RunResult(checked_run.config_dict, checked_run.records).config, type(checked_run.config))


def test_the_changelog_lists_every_renamed_name():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    names = [
        *_compat.RENAMED_MODULES,
        *(f"{old}.{name}" for old, names in _compat.SPLIT_MODULES.items() for name in names),
        *_compat.MOVED_ATTRIBUTES,
        *(f"RunResult.{old}()" for old in _compat.RUN_RESULT_METHODS),
    ]
    missing = [name for name in names if f"`{name}`" not in changelog]
    assert not missing, f"CHANGELOG.md does not list: {', '.join(missing)}"
