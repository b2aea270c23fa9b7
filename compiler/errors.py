"""The one error hierarchy of reportc, and the positions errors point at.

Every user-facing failure is a :class:`ReportcError`. Each carries one or more
:class:`Problem` objects; a problem says *where* (``file:line:col``, or
report/section/template:line) and *what to do next*. The CLI prints problems one
per line and exits with the error's ``exit_code``; no traceback reaches a user
for bad input.

Exit codes (documented in the README):

== ==========================================================================
0  success
1  one or more reports (or messages) failed; the others were written (or sent)
2  command-line usage error (click's own)
3  invalid configuration: YAML, schema, references, environment variables
4  a data source, metric or event input could not be loaded or computed
5  a template could not be compiled or rendered
6  delivery could not start or go on: preflight failed, the audit address is
   suppressed, the ledger cannot be written, another send is running
7  the archive could not be read or written, or a run was not found
70 an unforeseen failure (a bug, memory or disk exhausted): one line, no
   traceback (``reportc.cli.run``; REPORTC_DEBUG=1 shows it)
== ==========================================================================
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click


def format_path(path: tuple[str | int, ...]) -> str:
    """``('personas', 'cfo', 'sections', 2)`` -> ``personas.cfo.sections[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class Location:
    """A place in a file; ``line`` and ``col`` are 1-based, either may be unknown."""

    file: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
            if self.col is not None:
                out += f":{self.col}"
        return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with where it is and (optionally) how to fix it."""

    message: str
    location: Location | None = None
    path: str = ""
    hint: str = ""

    def to_json(self) -> dict[str, object]:
        """The problem for machines (``--json``): message, file, line, col, path, hint."""
        loc = self.location
        return {
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "col": loc.col if loc else None,
            "path": self.path,
            "hint": self.hint,
        }

    def format(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        text = ": ".join(parts)
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class ReportcError(click.ClickException):
    """Root of every error reportc shows to a user."""

    exit_code = 1
    kind = "error"

    def __init__(self, problems: Problem | Sequence[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(p.format() for p in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the problems (with their positions) across process boundaries.
        return (self.__class__, (list(self.problems),))

    def show(self, file: object = None) -> None:  # pragma: no cover - exercised via CLI
        """Each problem as an error record of the ``reportc`` logger once the command
        line has configured it (text or JSON lines, masked), else plainly on stderr."""
        count = f"{len(self.problems)} problems found." if len(self.problems) > 1 else ""
        logger = logging.getLogger("reportc.errors")
        if logging.getLogger("reportc").handlers:
            for problem in self.problems:
                logger.error(problem.format())
            if count:
                logger.error(count, extra={"bare": True})
            return
        for problem in self.problems:
            click.echo(f"{self.kind}: {problem.format()}", err=True)
        if count:
            click.echo(count, err=True)


class ConfigError(ReportcError):
    """The project file (or env file) is malformed, invalid, or inconsistent."""

    exit_code = 3


class DataError(ReportcError):
    """A data source could not be read, or a metric could not be computed."""

    exit_code = 4


class RenderError(ReportcError):
    """A template could not be compiled or rendered, or the PDF could not be made."""

    exit_code = 5


class DeliveryError(ReportcError):
    """A message could not be built or delivered."""

    exit_code = 6


class ArchiveError(ReportcError):
    """The archive could not be written or read, or a run was not found."""

    exit_code = 7


class SendFailed(ReportcError):
    """Some messages failed, were uncertain or were not sent; the rest went out."""

    exit_code = 1


class BuildFailed(ReportcError):
    """Some reports failed; the problems of each are listed, the rest were written."""

    exit_code = 1


def byte_location(raw: bytes, offset: int, file: str) -> Location:
    """The line and column of byte ``offset`` in ``raw`` (for encoding errors)."""
    line = raw[:offset].count(b"\n") + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return Location(file, line, col)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest candidate, or ``""``."""
    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
