"""The Jinja sandbox every template and YAML text runs in, with bounds on what it builds.

Jinja's own sandbox stops attribute tricks and caps ``range`` at 100,000 items;
:class:`BoundedSandbox` also refuses ``*`` and ``**`` whose result would take
unbounded memory or time (``'a' * 10**10``, ``10 ** 10 ** 10``).

It also compiles each YAML text once (:meth:`BoundedSandbox.text_template`): Jinja
caches the templates it loads from files, not those made from strings, and a burst of
a thousand rows would otherwise compile its title, file name and narrative a thousand
times (about 1 ms each, most of what rendering a small report's texts costs).
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

#: the longest string and the largest number a template may build
MAX_TEMPLATE_STRING = 1_000_000
MAX_TEMPLATE_NUMBER = 10**30
#: how many compiled YAML texts one environment keeps (the oldest goes first)
TEXT_MEMO = 512


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, with ``*`` and ``**`` refused where their result would explode.

    ``range`` is bounded by the sandbox itself (100,000 items); ``'a' * 10**10`` and
    ``10 ** 10 ** 10`` are refused here before any memory or time is spent.
    """

    intercepted_binops = frozenset(["*", "**"])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fresh_memos()

    def _fresh_memos(self) -> None:
        self._texts: dict[str, Template] = {}
        self._variants: dict[tuple[tuple[str, Any], ...], BoundedSandbox] = {}

    def overlay(self, **options: Any) -> BoundedSandbox:  # type: ignore[override]
        """Jinja's overlay, with memos of its own (what it compiles differs from ours)."""
        env = super().overlay(**options)
        assert isinstance(env, BoundedSandbox)
        env._fresh_memos()
        return env

    def variant(self, **options: Any) -> BoundedSandbox:
        """An overlay with these options (``autoescape=False``, ``finalize=...``), made
        once per environment, so the texts it compiles stay compiled."""
        key = tuple(sorted(options.items()))
        env = self._variants.get(key)
        if env is None:
            env = self._variants[key] = self.overlay(**options)
        return env

    def text_template(self, source: str) -> Template:
        """``from_string(source)``, compiled once per environment and text."""
        template = self._texts.get(source)
        if template is None:
            template = self.from_string(source)
            if len(self._texts) >= TEXT_MEMO:
                del self._texts[next(iter(self._texts))]
            self._texts[source] = template
        return template

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
