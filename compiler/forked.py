"""Pure work split across two processes: :func:`map_halves` computes a function over a
list, the second half in a forked child while this process does the first.

For CPU-bound, side-effect-free work whose inputs are expensive to pickle (a child made
by ``fork`` inherits them) and whose results are plain data (pickled back through a
pipe): composing a thousand messages before a send. Anything unusual — no ``fork`` (Windows,
macOS's default), one core, a short list, a child that dies or sends back something
unreadable — falls back to computing everything here, so the result is always the same
as ``[fn(x) for x in items]``, exceptions included (an exception is returned in the
item's place, never raised). A child that takes much longer than this process took for
its own half (a lock another thread held at the fork) is killed and its half computed
here."""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: below this many items, a fork costs more than it saves
MIN_ITEMS = 64
#: seconds a child may take beyond what this process took for its own half
SLACK = 60.0


def _each(fn: Callable[[T], R], items: Sequence[T]) -> list[R | Exception]:
    out: list[R | Exception] = []
    for item in items:
        try:
            out.append(fn(item))
        except Exception as exc:  # returned in the item's place (the caller decides)
            out.append(exc)
    return out


def map_halves(
    fn: Callable[[T], R], items: Sequence[T], *, fork: bool = True
) -> list[R | Exception]:
    """``fn`` over ``items`` in order, half of them in a forked child when worthwhile
    (never when ``fork`` is false: ``fn`` has side effects)."""
    few = len(items) < MIN_ITEMS or (os.cpu_count() or 1) < 2
    if not fork or few or not hasattr(os, "fork"):
        return _each(fn, items)
    half = len(items) // 2
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return _each(fn, items)
    if pid == 0:  # the child: compute the second half, send it, and leave at once
        os.close(read)
        _child(fn, items[half:], write)
    os.close(write)
    started = time.monotonic()
    first = _each(fn, items[:half])
    # the child does as much as this process did: give it that again, and SLACK more
    second = _collect(read, pid, time.monotonic() + (time.monotonic() - started) + SLACK)
    if second is None or len(second) != len(items) - half:
        return first + _each(fn, items[half:])
    return first + second


def _child(fn: Callable[[Any], Any], items: Sequence[Any], write: int) -> None:
    code = 1
    try:
        results = _each(fn, items)
        try:
            data = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an unpicklable result: the parent computes them itself
            data = b""
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)


def _collect(read: int, pid: int, deadline: float) -> list[Any] | None:
    """The child's results, after it has exited; None if it failed or is still at it at
    ``deadline`` (a child stuck on a lock another thread held at the fork is killed)."""
    chunks: list[bytes] = []
    with os.fdopen(read, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            chunk = pipe.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if status != 0 or not data:
        return None
    try:
        results = pickle.loads(data)
    except Exception:
        return None
    return results if isinstance(results, list) else None
