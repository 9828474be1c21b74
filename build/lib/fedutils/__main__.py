"""``python -m fedutils``: see :mod:`fedutils.cli`."""

from fedutils.cli import console_main

console_main()
