"""Rate limiting (counted in recipients) and the retry policy, with injected time.

The clock, ``sleep`` and the random source are parameters so tests (and the
benchmarks) drive them without patching anything global.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


class RateLimiter:
    """At most ``per_second`` recipients per second, spaced evenly; ``None``: no limit.

    Each acquisition of ``n`` recipients reserves ``n / per_second`` seconds of
    the schedule, so no one-second window ever holds more than ``per_second``
    recipients (for messages of at most that many recipients).
    """

    def __init__(
        self,
        per_second: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self.clock = clock
        self.sleep = sleep
        self._next = float("-inf")

    def acquire(self, recipients: int = 1) -> float:
        """Wait until ``recipients`` may be sent; return how long it waited."""
        if not self.per_second:
            return 0.0
        now = self.clock()
        start = max(now, self._next)
        waited = start - now
        if waited > 0:
            self.sleep(waited)
        self._next = start + recipients / self.per_second
        return waited


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt k waits U(0, min(cap, base * 2**k))."""

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 20.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))
