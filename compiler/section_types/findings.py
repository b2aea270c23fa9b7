"""The ``findings`` section type: findings ranked by severity, with counts by severity.

The email summary lists the most severe findings of a report's findings sections.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..formatting import Formatter, humanise
from .base import (
    OptionProblem,
    Options,
    ReportView,
    SectionType,
    SectionView,
    Sheet,
    SheetColumn,
    Summary,
    Values,
    check_fields,
    fields,
    rows_problems,
)

DEFAULT_SEVERITIES = ("critical", "high", "medium", "low", "info")


def _severity_rank(severities: Sequence[str]) -> Callable[[Any], int]:
    order = {s.lower(): i for i, s in enumerate(severities)}
    return lambda s: order.get(str(s).lower(), len(order))


def prepare(section: SectionView, report: ReportView, fmt: Formatter) -> Values:
    opts = section.spec.options
    f = fields(section, ("id", "title", "severity", "detail", "entity", "recommendation"))
    check_fields(section, report, f, ("title", "severity"))
    severities = tuple(opts.get("severities", DEFAULT_SEVERITIES))
    rank = _severity_rank(severities)
    items = [
        {
            "id": row.get(f["id"]) or "",
            "title": row.get(f["title"]),
            "severity": str(row.get(f["severity"]) or "unrated").lower(),
            "detail": row.get(f["detail"]) or "",
            "entity": row.get(f["entity"]) or "",
            "recommendation": row.get(f["recommendation"]) or "",
        }
        for row in section.rows
    ]
    items.sort(key=lambda it: (rank(it["severity"]), str(it["entity"]), str(it["title"])))
    counts = [(s, sum(1 for it in items if it["severity"] == s.lower())) for s in severities]
    extra = sorted({str(it["severity"]) for it in items} - {s.lower() for s in severities})
    counts += [(s, sum(1 for it in items if it["severity"] == s)) for s in extra]
    return {
        "findings": items,
        "severity_counts": counts,
        "show_counts": opts.get("show_counts", True),
    }


def summary(values: Values) -> Summary:
    return Summary(findings=tuple(values["findings"]))


def sheet(section: SectionView, values: Values) -> Sheet:
    """The findings in the PDF's order (most severe first), one per row."""
    keys = ("id", "severity", "title", "entity", "detail", "recommendation")
    items = values["findings"]
    shown = [k for k in keys if k in ("severity", "title") or any(it[k] for it in items)]
    return Sheet(
        tuple(SheetColumn(k.capitalize() if k != "id" else "ID") for k in shown),
        tuple(
            tuple(
                (humanise(str(it[k])) if k == "severity" else str(it[k])) if it[k] else None
                for k in shown
            )
            for it in items
        ),
    )


def check(options: Options, metrics: Collection[str]) -> list[OptionProblem]:
    return rows_problems("findings", options)


SCHEMA: dict[str, Any] = {
    "description": "Findings ranked by severity, with counts by severity.",
    "properties": {
        "fields": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "severity": {"type": "string"},
                "detail": {"type": "string"},
                "entity": {"type": "string"},
                "recommendation": {"type": "string"},
            },
        },
        "severities": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string"},
            "uniqueItems": True,
            "description": "Severity names from most to least severe. "
            "Default: critical, high, medium, low, info.",
        },
        "show_counts": {"type": "boolean"},
        "empty": {"type": "string"},
    },
}

TYPE = SectionType(
    "findings", schema=SCHEMA, prepare=prepare, summary=summary, sheet=sheet, check=check
)
