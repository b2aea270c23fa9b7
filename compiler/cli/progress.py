"""The progress bar for long runs on a terminal: count, rate, ETA and failures so far.

One line on stderr, redrawn at most ten times a second, and replaced at the end by a
line that stays. Colour only where ``NO_COLOR`` is unset (https://no-color.org). Not
used when stderr is not a terminal: there each report keeps its own line.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import IO

import click


def colour_allowed(environ: dict[str, str] | None = None) -> bool:
    """False when ``NO_COLOR`` is set to anything but the empty string."""
    return not (environ if environ is not None else os.environ).get("NO_COLOR", "")


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class Bar:
    """``building [#########-------]  38/60  7.4/s  ETA 0:03  1 failed``."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: IO[str] | None = None,
        colour: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total = label, total
        self.stream = stream or sys.stderr
        self.colour = colour_allowed() if colour is None else colour
        self.clock = clock
        self.started = clock()
        self.done = self.failed = 0
        self._drawn_at = -1.0

    def advance(self, *, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        self.draw()

    def set_total(self, total: int) -> None:
        self.total = total
        self.draw(force=True)

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        parts = [self.label]
        if self.total:
            filled = int(20 * min(self.done, self.total) / self.total)
            parts.append("[" + "#" * filled + "-" * (20 - filled) + "]")
            parts.append(f"{self.done:>{len(str(self.total))}}/{self.total}")
        else:
            parts.append(str(self.done))
        parts.append(f"{rate:.1f}/s")
        if self.total and self.done and self.done < self.total:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        else:
            parts.append(f"in {_duration(elapsed)}")
        if self.failed:
            failed = f"{self.failed} failed"
            parts.append(click.style(failed, fg="red", bold=True) if self.colour else failed)
        return "  ".join(parts)

    def draw(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        width = shutil.get_terminal_size((100, 24)).columns
        text = self.line()
        if len(click.unstyle(text)) >= width:
            text = click.unstyle(text)[: width - 1]
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line (it stays on the terminal); nothing if
        nothing was ever drawn."""
        if self._drawn_at < 0:
            return
        self.draw(force=True)
        self.stream.write("\n")
        self.stream.flush()
