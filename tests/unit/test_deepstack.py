"""call_deep: WeasyPrint's recursion runs in one roomy chunk of CPython's frame stack,
so a call depth that goes back and forth no longer maps and unmaps memory each time."""

from __future__ import annotations

import resource
import sys

import pytest

from reportc.deepstack import call_deep


def _nest(depth: int) -> int:
    return 0 if depth == 0 else 1 + _nest(depth - 1)


def _worst_faults(depths: range, repeat: int = 20) -> int:
    """The most page faults one depth cost over ``repeat`` descents to it and back."""
    worst = 0
    for depth in depths:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(repeat):
            _nest(depth)
        worst = max(worst, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return worst


def test_it_is_a_call() -> None:
    assert call_deep(_nest, 300) == 300
    assert call_deep(dict, [("a", 1)], b=2) == {"a": 1, "b": 2}
    with pytest.raises(ZeroDivisionError):
        call_deep(divmod, 1, 0)
    with pytest.raises(RecursionError):  # Python's own limit still holds
        call_deep(_nest, sys.getrecursionlimit() + 10)


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's frame stack")
def test_going_back_and_forth_across_depths_maps_no_memory() -> None:
    # Every depth from shallow to 600 frames (more than a 16 KB chunk holds), each
    # visited 20 times: inside call_deep not one of them faults pages in again.
    assert call_deep(_worst_faults, range(1, 600, 7)) < 10
    if sys.version_info < (3, 13):  # the interpreter's own churn, which this avoids
        assert _worst_faults(range(1, 600, 7)) >= 20
