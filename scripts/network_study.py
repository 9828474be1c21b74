#!/usr/bin/env python3
"""The appendix's study of CPU-friendly networks.

A thin command over :mod:`tools.network_study`; see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tools, from a clone

from tools.network_study import main

if __name__ == "__main__":
    sys.exit(main())
