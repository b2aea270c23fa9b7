"""``validate``: every check a build and a send make, with nothing written or sent.

Binds and renders every report (each burst row's too, one at a time, then dropped, so
validating 100,000 rows takes the memory of one), then composes each report's email
as ``send`` would: its subject, headers, HTML and text bodies and attachments, with a
stand-in for the PDF. A problem that every report shares (a misspelt name in the
subject template, say) is reported once, at the YAML key or template line that
declares it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from .bind import bind, data_problems
from .bound import BoundReport
from .config.model import Project
from .errors import DataError, Problem, RenderError, ReportcError
from .packaging import email_problems
from .pipeline import attachment_csvs
from .plan import Clock, choose_personas, default_clock
from .ready import ReadyReport
from .render import make_environment, render_report

#: what stands in for a PDF when an email is composed but not sent
STAND_IN_PDF = b"%PDF-1.7\n% validate: no PDF is made\n"


@dataclass(frozen=True)
class Validated:
    """What was checked: the reports (burst rows included) and how many are burst rows."""

    reports: int
    burst: int


def validate(
    project: Project, reports: Sequence[str] | None = None, clock: Clock | None = None
) -> Validated:
    """Bind, render and compose every chosen report (no PDF, no writes); raise with every
    data, template and email problem at once."""
    chosen = choose_personas(project, reports)
    env = make_environment(project.root)
    when = (clock or default_clock(project))()
    data: list[Problem] = []
    rendering: list[Problem] = []
    counts = {"reports": 0, "burst": 0}

    def add(found: list[Problem], problems: Sequence[Problem]) -> None:
        found.extend(p for p in problems if p not in found)

    def check(name: str, bound: BoundReport) -> None:
        counts["reports"] += 1
        counts["burst"] += bool(bound.spec.persona and bound.spec.persona != name)
        try:
            rendered = render_report(bound, project, env=env, generated=when)
        except DataError as exc:
            add(data, exc.problems)
            return
        except ReportcError as exc:
            add(rendering, exc.problems)
            return
        # only what packaging reads: not ReadyReport.of, whose figures digest (a snapshot of
        # every row) nothing here uses
        csv = attachment_csvs(bound)
        item = ReadyReport(bound.spec, rendered, STAND_IN_PDF, csv, bound.blocked, bound.alerts)
        add(rendering, email_problems(project, env, item, _utc(when)))

    result = bind(project, chosen, sink=check)
    data[:0] = [p for p in data_problems(result) if p not in data]
    if data:
        raise DataError(data + rendering)
    if rendering:
        raise RenderError(rendering)
    return Validated(counts["reports"], counts["burst"])


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
