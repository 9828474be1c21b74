#!/usr/bin/env python3
"""Record the model-A runs too slow for a build (``--list`` shows them).

A thin command over :mod:`tools.record_runs`; see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tools, from a clone

from tools.record_runs import main

if __name__ == "__main__":
    sys.exit(main())
