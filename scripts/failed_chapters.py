#!/usr/bin/env python3
"""One line per chapter that failed to execute in a book build.

A thin command over :mod:`tools.failed_chapters`; see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tools, from a clone

from tools.failed_chapters import main

if __name__ == "__main__":
    sys.exit(main())
