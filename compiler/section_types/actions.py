"""The ``actions`` section type: action items sorted by priority, then due date.

Priorities are words (critical, high, medium, low) or numbers (P1, 2); ``horizon_days``
keeps only what falls due within that many days of the period's end.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from typing import Any

from ..formatting import Formatter, as_date, code_tone, humanise
from .base import (
    OptionProblem,
    Options,
    ReportView,
    SectionType,
    SectionView,
    Values,
    check_fields,
    fields,
    rows_problems,
)

_PRIORITY_WORDS = {"critical": 0, "urgent": 0, "high": 1, "medium": 2, "normal": 2, "low": 3}


def _priority_key(value: Any) -> tuple[int, str]:
    text = str(value or "").strip().lower()
    if text in _PRIORITY_WORDS:
        return (_PRIORITY_WORDS[text], text)
    match = re.match(r"^p?(\d+)$", text)
    if match:
        return (int(match.group(1)), text)
    return (99, text)


def prepare(section: SectionView, report: ReportView, fmt: Formatter) -> Values:
    opts = section.spec.options
    f = fields(section, ("action", "priority", "owner", "due", "entity", "status"))
    check_fields(section, report, f, ("action",))
    horizon = opts.get("horizon_days")
    limit_date = report.period.end + dt.timedelta(days=int(horizon)) if horizon else None
    items = []
    for row in section.rows:
        due = as_date(row.get(f["due"]))
        if limit_date is not None and (due is None or due > limit_date):
            continue
        items.append(
            {
                "action": row.get(f["action"]),
                "priority": row.get(f["priority"]) or "",
                "owner": row.get(f["owner"]) or "",
                "due": due,
                "due_text": fmt.date(due) if due else fmt.text(row.get(f["due"])),
                "entity": row.get(f["entity"]) or "",
                "status": humanise(str(row.get(f["status"]) or "")),
                "status_tone": code_tone(row.get(f["status"])),
            }
        )
    items.sort(
        key=lambda it: (_priority_key(it["priority"]), it["due"] or dt.date.max, str(it["action"]))
    )
    return {"actions": items, "horizon_end": limit_date}


def check(options: Options, metrics: Collection[str]) -> list[OptionProblem]:
    return rows_problems("actions", options)


SCHEMA: dict[str, Any] = {
    "description": "Action items sorted by priority then due date, with owner.",
    "properties": {
        "fields": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "action": {"type": "string"},
                "priority": {"type": "string"},
                "owner": {"type": "string"},
                "due": {"type": "string"},
                "entity": {"type": "string"},
                "status": {"type": "string"},
            },
        },
        "horizon_days": {
            "type": "integer",
            "minimum": 1,
            "description": "Only items due within this many days after the end of the period.",
        },
        "empty": {"type": "string"},
        "action_label": {
            "type": "string",
            "description": "Heading of the action column (default 'Action'), e.g. 'Milestone'.",
        },
    },
}

TYPE = SectionType("actions", schema=SCHEMA, prepare=prepare, check=check)
