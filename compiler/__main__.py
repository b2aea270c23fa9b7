"""``python -m reportc``: the same command as ``reportc``."""

from .entry import main

main()
