"""The Jinja sandbox every template and YAML text runs in, with bounds on what it builds.

Jinja's own sandbox stops attribute tricks and caps ``range`` at 100,000 items;
:class:`BoundedSandbox` also refuses ``*`` and ``**`` whose result would take
unbounded memory or time (``'a' * 10**10``, ``10 ** 10 ** 10``).
"""

from __future__ import annotations

import math
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

#: the longest string and the largest number a template may build
MAX_TEMPLATE_STRING = 1_000_000
MAX_TEMPLATE_NUMBER = 10**30


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, with ``*`` and ``**`` refused where their result would explode.

    ``range`` is bounded by the sandbox itself (100,000 items); ``'a' * 10**10`` and
    ``10 ** 10 ** 10`` are refused here before any memory or time is spent.
    """

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numbers = isinstance(left, (int, float)) and isinstance(right, (int, float))
        if operator == "**" and numbers and _power_too_large(left, right):
            raise SecurityError(f"{left!r:.40} ** {right!r:.40} is too large")
        if operator == "*":
            size = _product_size(left, right)
            if size > MAX_TEMPLATE_STRING:
                raise SecurityError(f"a value of {size:,} items or characters is too large")
        return super().call_binop(context, operator, left, right)


def _power_too_large(left: float, right: float) -> bool:
    if abs(right) > 64:
        return True
    return abs(left) > 1 and abs(right) * math.log10(abs(left)) > 30


def _product_size(left: Any, right: Any) -> int:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
            return len(seq) * n
    return 0
