"""Repository tools: what builds, runs and records the book, beside the library but not part of it.

Each module is importable (its tests import it) and has a ``main()``; ``scripts/`` holds thin
commands that call them, so that ``python scripts/<name>.py --help`` works from a clone:

* :mod:`tools.course` — the course kit: Otter-Grader student and instructor notebooks;
* :mod:`tools.run_chapters` — every chapter as a plain script from an empty run cache, timed;
* :mod:`tools.failed_chapters` — one line per chapter that failed to execute in a book build;
* :mod:`tools.execution_times` — how long each chapter took, from the book's execution cache;
* :mod:`tools.record_runs` — the model-A runs too slow for a build, recorded as files;
* :mod:`tools.network_study` — the appendix's study of CPU-friendly networks.

Nothing in :mod:`fedutils` imports them.
"""
