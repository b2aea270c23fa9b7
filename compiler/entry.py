"""The ``reportc`` console command: a no-change ``build`` is answered from its stamp
(:mod:`reportc.fastpath`, stdlib only) before anything else is imported; every other
command, and every build that may have something to do, goes to :func:`reportc.cli.run`.

A ``build`` that will lay out PDFs in more than one worker starts its workers' template
(:mod:`reportc.zygote`) here, first of all, by forking this process while it holds no
thread and has imported only the standard library: the template imports WeasyPrint on
another core while this process loads the CLI, the project and the data, instead of after.
"""

from __future__ import annotations

import sys

# Ctrl-C while this module's imports load ends the command as Ctrl-C later does, not
# with a traceback (what comes before, Python's own start-up, is Python's to answer).
try:
    import atexit
    import contextlib
    import gc
    import os
    from collections.abc import Sequence
    from importlib import import_module
    from pathlib import Path

    from . import fastpath
    from .limits import DEFAULT_BUILD_MEMORY_MB, default_jobs
    from .zygote import Zygote
except KeyboardInterrupt:  # pragma: no cover - timing; tests/functional/test_scale.py
    sys.stderr.write("Aborted!\n")
    raise SystemExit(1) from None

#: global options that take a value, and those that do not (see reportc.cli.main)
_GLOBAL_VALUE = {"-C", "--config", "--env-file", "--log-format"}
_GLOBAL_FLAG = {"-q", "--quiet", "-v", "-vv", "-vvv", "--verbose"}
#: build options the guess reads
_BUILD_VALUE = {"--jobs", "-j", "--max-memory", "--format"}


def main() -> None:
    """The console command; Ctrl-C at any moment ends it as click would ("Aborted!",
    exit 1), never with a traceback (also while Python is still loading the CLI).

    Once every exit handler has run (this one, registered first, runs last), the heap
    is frozen: the interpreter's own teardown then skips the garbage collector's passes
    over everything the command made, about 0.1 s of a build. Every file is closed and
    flushed by then, the shared stylesheets' fonts are let go and logging is shut down
    by their own handlers; objects are still released as they always are."""
    atexit.register(gc.freeze)
    try:
        _main()
    except KeyboardInterrupt:
        sys.stderr.write("Aborted!\n")
        raise SystemExit(1) from None


def _main() -> None:
    try:
        replayed = fastpath.replay(sys.argv[1:], Path.cwd(), os.environ)
    except Exception:  # the fast path is an optimisation: any surprise, take the normal one
        replayed = None
    if replayed is not None:
        sys.stdout.write(replayed[0])
        sys.stderr.write(replayed[1])
        return
    zygote = early_zygote(sys.argv[1:])
    try:
        import_module("reportc.cli").run(zygote=zygote)  # the CLI, loaded only when needed
    finally:
        if zygote is not None:
            zygote.close()


def build_workers(argv: Sequence[str]) -> tuple[int, int] | None:
    """(PDF workers, their memory limit in MB) a command line's ``build`` will use, as
    far as the command line says; None if it is not a build, or the guess is unsure."""
    parsed = fastpath.build_arguments(argv, _GLOBAL_VALUE, _GLOBAL_FLAG)
    if parsed is None:
        return None
    given: dict[str, list[str]] = {}
    rest = iter(parsed[1])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if arg in ("-h", "--help"):
            return None
        if name in _BUILD_VALUE:
            key = "--jobs" if name == "-j" else name
            given.setdefault(key, []).append(value if eq else next(rest, ""))
        elif arg.startswith("-j"):  # -j2
            given.setdefault("--jobs", []).append(arg[2:])
    jobs = (given.get("--jobs") or [str(default_jobs())])[-1]
    memory = (given.get("--max-memory") or [str(DEFAULT_BUILD_MEMORY_MB)])[-1]
    formats = given.get("--format")
    if not (jobs.isdigit() and memory.isdigit()):
        return None
    if formats and "pdf" not in formats:
        return None
    return int(jobs), int(memory)


def early_zygote(argv: Sequence[str]) -> Zygote | None:
    """The zygote for a build that will want more than one PDF worker, started now. The
    build uses it only if its options agree (a project may also want no PDFs at all);
    :func:`main` stops it at the end either way."""
    wanted = build_workers(argv)
    if wanted is None or wanted[0] < 2:
        return None
    with contextlib.suppress(OSError):
        return Zygote.fork(wanted[1]) or Zygote.start(wanted[1])
    return None
