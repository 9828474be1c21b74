#!/usr/bin/env python3
"""A real Flower deployment on one machine: a SuperLink and one SuperNode per agent.

A thin command over :mod:`fedutils.flower.deployment`; see ``--help``.
"""

import sys

from fedutils.flower.deployment import main

if __name__ == "__main__":
    sys.exit(main())
