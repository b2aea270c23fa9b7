"""The ``reportc`` console command: a no-change ``build`` is answered from its stamp
(:mod:`reportc.fastpath`, stdlib only) before anything else is imported; every other
command, and every build that may have something to do, goes to :func:`reportc.cli.run`.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from pathlib import Path

from . import fastpath


def main() -> None:
    try:
        replayed = fastpath.replay(sys.argv[1:], Path.cwd(), os.environ)
    except Exception:  # the fast path is an optimisation: any surprise, take the normal one
        replayed = None
    if replayed is not None:
        sys.stdout.write(replayed[0])
        sys.stderr.write(replayed[1])
        return
    import_module("reportc.cli").run()  # the CLI and its imports, loaded only when needed
