"""Rate limiting (counted in recipients) and the retry policy, with injected time.

The clock, ``sleep`` and the random source are parameters so tests (and the
benchmarks) drive them without patching anything global.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class RateLimiter:
    """At most ``per_second`` recipients in any one-second window; ``None``: no limit.

    Sends are spaced evenly (``n / per_second`` apart) and, as the hard guarantee, a
    sliding window over *completed* sends: before a message of ``n`` recipients goes,
    the recipients of every send that completed within the last second are counted,
    and we wait until adding ``n`` stays within the rate. Because the server
    receives a message before we see it complete, this bounds every one-second window
    of what the server receives too, while the average stays at the rate (an even
    spacing of starts does not: network jitter bunches deliveries). Call
    :meth:`acquire` before a send and :meth:`done` after it, whatever its outcome.
    """

    WINDOW = 1.0

    def __init__(
        self,
        per_second: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[tuple[float, int]] = deque()
        self._in_window = 0
        self._next = float("-inf")

    def acquire(self, recipients: int = 1) -> float:
        """Wait until ``recipients`` may be sent; return how long it waited."""
        if not self.per_second:
            return 0.0
        waited = 0.0
        # Even spacing first (a steady pace, no bursts) ...
        now = self.clock()
        if self._next > now:
            self.sleep(self._next - now)
            waited += self._next - now
        # ... then the hard guarantee: the window, counted on completed sends. A message
        # larger than the rate goes alone, in an otherwise empty window.
        budget = max(self.per_second, float(recipients))
        while True:
            now = self.clock()
            while self._sent and self._sent[0][0] <= now - self.WINDOW:
                self._in_window -= self._sent.popleft()[1]
            if self._in_window + recipients <= budget:
                self._next = now + recipients / self.per_second
                return waited
            pause = self._sent[0][0] + self.WINDOW - now
            self.sleep(pause)
            waited += pause

    def done(self, recipients: int = 1) -> None:
        """Record a send that has just completed (succeeded or not)."""
        if self.per_second:
            self._sent.append((self.clock(), recipients))
            self._in_window += recipients


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt k waits U(0, min(cap, base * 2**k))."""

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 20.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))
