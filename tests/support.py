"""What many tests share (importable from any test folder: ``pyproject.toml`` puts ``tests/`` on the path)."""

from __future__ import annotations

from fedutils import DataSource, RunOptions

QUIET = RunOptions(cache=False, progress=False, data=DataSource(download=False))
"""How most tests run an experiment: computed (never cached), no bars, the data from local files only."""

CACHED = QUIET.replace(cache=True)
"""As :data:`QUIET`, but reading and writing the test's own run cache (``$FEDUTILS_CACHE``, isolated per test)."""
