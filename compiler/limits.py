"""Bounds on one run: memory for the whole process, time for each report's work.

- :func:`limit_memory` caps the process's data segment (``RLIMIT_DATA``: heap and
  private mappings), so a runaway - a template loop, a burst of 100,000 rows, a
  YAML bomb - ends in a clear "out of memory" error instead of taking the machine.
  The CLI applies it to every command (``REPORTC_MAX_MEMORY``, MB; ``build
  --max-memory`` for builds); PDF workers set their own.
- :func:`time_limit` interrupts work in the main thread after ``seconds``
  (``SIGALRM``), raising :class:`TimeLimitExceeded` where Python code is running
  (template loops, expression evaluation, binding). Elsewhere it is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: MB a command may use when nothing else is said (REPORTC_MAX_MEMORY overrides)
DEFAULT_MEMORY_MB = 4096
#: MB a build and each of its PDF workers may use by default (``build --max-memory``)
DEFAULT_BUILD_MEMORY_MB = 2048


def default_jobs() -> int:
    """The CPUs this process may use (the default number of PDF workers)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class TimeLimitExceeded(Exception):
    """The work took longer than its limit (raised inside the work, by the alarm)."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} took longer than {seconds:g} s and was stopped")
        self.what = what
        self.seconds = seconds


def limit_memory(mb: int | None) -> None:
    """Cap this process's memory at ``mb`` MB (never raising an existing lower cap)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    if not mb:
        return
    wanted = mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft > wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (wanted, hard))


def memory_budget() -> int:
    """Bytes this process may still use by its cap (0: no cap)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 0
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return 0 if soft == resource.RLIM_INFINITY else int(soft)


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in the block after ``seconds`` (main thread)."""
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # no outer limit running
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(what, seconds)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
