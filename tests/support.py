"""What many tests share (importable from any test folder: ``pyproject.toml`` puts ``tests/`` on the path)."""

from __future__ import annotations

import pytest

from fedutils import DataSource, RunOptions

QUIET = RunOptions(cache=False, progress=False, data=DataSource(download=False))
"""How most tests run an experiment: computed (never cached), no bars, the data from local files only."""

CACHED = QUIET.replace(cache=True)
"""As :data:`QUIET`, but reading and writing the test's own run cache (``$FEDUTILS_CACHE``, isolated per test)."""

STARTS_RAY = pytest.mark.xdist_group("ray")
"""The mark of the tests that start Ray (Flower's simulation engine, a Flower deployment, a Ray grid): under
pytest-xdist they run one after another in one worker. Two Ray clusters starting at once on two cores took
each about four times as long as one alone (measured in the suite: Flower's engine tests 236 s beside the
others, 61 s alone)."""
