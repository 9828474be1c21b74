"""Print how long each chapter took to execute, from the book's jupyter-cache.

Usage: python scripts/execution_times.py [_build/.jupyter_cache]
"""

from __future__ import annotations

import sys
from pathlib import Path

from jupyter_cache import get_cache

DEFAULT_CACHE = "_build/.jupyter_cache"


def main(argv: list[str] | None = None) -> int:
    """Print each chapter's execution time from the jupyter-cache folder named in ``argv`` (default
    ``_build/.jupyter_cache``)."""
    arguments = sys.argv[1:] if argv is None else argv
    cache_path = arguments[0] if arguments else DEFAULT_CACHE
    if not Path(cache_path).exists():
        print(f"execution times: no cache at {cache_path} (was the book executed?)")
        return 0
    records = get_cache(cache_path).list_cache_records()
    latest: dict[str, tuple[object, float]] = {}
    for record in records:
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None and (record.uri not in latest or record.created > latest[record.uri][0]):
            latest[record.uri] = (record.created, float(seconds))
    if not latest:
        print("execution times: no executed chapters recorded yet")
        return
    print("chapter execution times (latest run of each, from jupyter-cache):")
    for uri, (_, seconds) in sorted(latest.items()):
        print(f"  {Path(uri).name:<40} {seconds / 60:6.1f} min")
    total = sum(seconds for _, seconds in latest.values())
    print(f"  {'all chapters':<40} {total / 60:6.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
