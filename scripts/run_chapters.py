#!/usr/bin/env python3
"""Every chapter as a plain script from an empty run cache, timed (how the book is timed without Jupyter).

A thin command over :mod:`tools.run_chapters`; see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tools, from a clone

from tools.run_chapters import main

if __name__ == "__main__":
    sys.exit(main())
