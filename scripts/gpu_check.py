#!/usr/bin/env python3
"""The prepared GPU call: executors, chapters and model-A recordings on a lent GPU, resumable within a budget.

A thin command over :mod:`tools.gpu_check`; see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tools, from a clone

from tools.gpu_check import main

if __name__ == "__main__":
    sys.exit(main())
