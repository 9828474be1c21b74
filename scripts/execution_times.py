#!/usr/bin/env python3
"""How long each chapter took to execute, from the book's jupyter-cache.

A thin command over :mod:`tools.execution_times`; see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tools, from a clone

from tools.execution_times import main

if __name__ == "__main__":
    sys.exit(main())
