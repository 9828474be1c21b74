"""Fixtures of the chapter tests: one run cache per chapter, shared by the chapter and its course copies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def chapter_caches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Chapter name → the run cache folder its tests share (made on first use, per test process)."""
    return {}


@pytest.fixture
def chapter_cache(
    chapter_caches: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Path], Path]:
    """Point ``$FEDUTILS_CACHE`` (which a kernel inherits) at the run cache of a chapter; returns the folder."""

    def use(chapter: Path) -> Path:
        if chapter.stem not in chapter_caches:
            chapter_caches[chapter.stem] = tmp_path_factory.mktemp(f"runs-{chapter.stem}")
        monkeypatch.setenv("FEDUTILS_CACHE", str(chapter_caches[chapter.stem]))
        return chapter_caches[chapter.stem]

    return use
