"""Running deeply recursive code (WeasyPrint's layout) without CPython's frame-stack
churn: :func:`call_deep`.

Since 3.11, CPython keeps Python frames in 16 KB chunks it maps one at a time, and
unmaps a chunk as soon as the last frame in it returns. Code whose call depth goes
back and forth across a chunk's end maps and unmaps a chunk, and faults its pages
in again, on every crossing: CPython gh-142183, fixed (by keeping one spare chunk)
in 3.13 and 3.14 in 2026, not in 3.11 or 3.12. WeasyPrint lays out boxes by recursion,
so where a PDF is made from decides how often that happens: a PDF worker made the
example's five PDFs with 58,000 page faults and 0.45 s of system time (`strace`: tens
of thousands of 16 KB ``mmap``/``munmap`` pairs), the building process with a third of
that, only because their call depths differed.

:func:`call_deep` calls a function from a frame that reserves :data:`ROOM` bytes of
frame stack: the interpreter maps a chunk big enough for it, and every frame the
function calls nests inside that chunk's free half instead of crossing into a new
one. The reserved space is never written (only the pages the frames below use are
touched); the chunk is let go when the call returns. Where the code object cannot be
given the room (another Python implementation), it is a plain call.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: bytes of frame stack reserved; the chunk mapped for it (twice this) leaves about as
#: much again for the frames below: thousands of WeasyPrint's, hundreds more than its
#: recursion ever reaches in a report
ROOM = 512 * 1024


def _plain(fn: Callable[..., object], /, *args: object, **kwargs: object) -> object:
    return fn(*args, **kwargs)


def _roomy() -> Callable[..., object]:
    """:func:`_plain` with :data:`ROOM` bytes of evaluation stack in its frame."""
    if sys.implementation.name != "cpython":
        return _plain
    code = _plain.__code__
    try:
        roomy = code.replace(co_stacksize=max(code.co_stacksize, ROOM // 8))
    except (TypeError, ValueError):  # pragma: no cover - a CPython that refuses
        return _plain
    return types.FunctionType(roomy, _plain.__globals__, "call_deep")


_CALL = _roomy()


def call_deep(fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """``fn(*args, **kwargs)``, its frames nested in one roomy chunk of frame stack."""
    return _CALL(fn, *args, **kwargs)  # type: ignore[return-value]
