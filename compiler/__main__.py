"""``python -m reportc``: the same command as ``reportc``."""

from .cli import run

run()
