"""The figures of a bound report that the archive and the manifest keep.

:func:`snapshot` is a report's metrics that it shows, the figures its sections'
types keep (KPI cards built from rows), and a digest of each section's rows, as
plain JSON; :func:`values_digest` is its fingerprint (equal digests, equal figures).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .bound import BoundReport
from .figures import canonical, json_value, values_digest
from .graph import section_needs
from .section_types import behaviour

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_plain = json_value

__all__ = ["canonical", "shown_metrics", "snapshot", "values_digest"]


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, Mapping):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def shown_metrics(report: BoundReport) -> set[str]:
    """The metrics a report shows: named by its sections (text, cards, chart rules) or alerts."""
    names = set(report.metrics)
    used: set[str] = set()
    for section in report.sections:
        used |= section_needs(section.spec, names)
        used |= _strings(dict(section.spec.options)) & names
    for alert in report.spec.alerts:
        used |= set(_IDENT.findall(f"{alert.when} {alert.notice}")) & names
    return used


def snapshot(report: BoundReport) -> dict[str, Any]:
    """The report's figures: the metrics it shows, its KPI cards built from rows, and a
    digest of each section's rows (so a changed table counts as a change too)."""
    values: dict[str, Any] = {
        "metrics": {k: _plain(report.metrics[k]) for k in sorted(shown_metrics(report))}
    }
    kpis: dict[str, dict[str, Any]] = {}
    rows: dict[str, str] = {}
    for section in report.sections:
        if section.rows:
            data = [{k: _plain(v) for k, v in r.items()} for r in section.rows]
            rows[section.spec.name] = hashlib.sha256(canonical(data)).hexdigest()
        kind = behaviour(section.spec.type)
        shown = kind.figures(section) if kind is not None else None
        if shown is not None:
            kpis[section.spec.name] = {label: _plain(v) for label, v in shown.items()}
    if kpis:
        values["kpis"] = kpis
    if rows:
        values["rows"] = rows
    return values
