"""Quality checks on data: row counts, missing values, freshness and ranges.

A source's checks are measured by SQL in the workspace (:func:`source_verdicts`), a
section's on the rows it shows (:func:`row_checks`), a metric's on its value; all three
end in the same sentences (:func:`check_verdicts`). A failed check blocks the reports
that use the data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .bound import BoundSection
from .config.model import (
    frozen_map,
)
from .errors import did_you_mean
from .formatting import as_date
from .sources.sql import duck_message
from .workspace import Workspace


@dataclass(frozen=True)
class RowStats:
    """What the row checks need to know about a table: measured by SQL or in Python."""

    count: int
    nulls: Mapping[str, int] = field(default_factory=frozen_map)
    newest: dt.date | None = None
    out_of_range: int = 0


def check_verdicts(
    label: str, checks: Mapping[str, Any], stats: RowStats, period_end: dt.date
) -> list[str]:
    """The failed row checks (min/max rows, not null, freshness, range), as sentences."""
    out: list[str] = []
    if "min_rows" in checks and stats.count < checks["min_rows"]:
        out.append(f"{label} has {stats.count} rows, fewer than {checks['min_rows']}")
    if "max_rows" in checks and stats.count > checks["max_rows"]:
        out.append(f"{label} has {stats.count} rows, more than {checks['max_rows']}")
    for col in checks.get("not_null", ()):
        if stats.nulls.get(col):
            out.append(f"{label}: {stats.nulls[col]} rows have no '{col}'")
    if "freshness" in checks:
        col, days = checks["freshness"]["column"], checks["freshness"]["max_age_days"]
        newest = stats.newest
        if newest is None or (period_end - newest).days > days:
            out.append(
                f"{label}: newest '{col}' is {newest or 'missing'}, more than {days} days "
                f"before the period end {period_end}"
            )
    if "range" in checks and stats.out_of_range:
        rule = checks["range"]
        out.append(
            f"{label}: {stats.out_of_range} rows have '{rule['column']}' outside "
            f"[{rule.get('min', '')}, {rule.get('max', '')}]"
        )
    return out


def row_checks(
    label: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    checks: Mapping[str, Any],
    period_end: dt.date,
) -> list[str]:
    """A section's quality checks, over the rows it shows (the same rules as a source's)."""
    named = [*checks.get("not_null", ())]
    named += [checks[k]["column"] for k in ("freshness", "range") if k in checks]
    missing = [c for c in named if columns and c not in columns]
    if missing:
        return [
            f"{label}: a check names column '{c}'{did_you_mean(c, columns)}, which the "
            "rows do not have"
            for c in dict.fromkeys(missing)
        ]
    newest = None
    if "freshness" in checks:
        col = checks["freshness"]["column"]
        dates = [d for d in (as_date(r.get(col)) for r in rows) if d is not None]
        newest = max(dates) if dates else None
    bad = 0
    if "range" in checks:
        col, lo, hi = (
            checks["range"]["column"],
            checks["range"].get("min"),
            checks["range"].get("max"),
        )
        for r in rows:
            value = r.get(col)
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
                continue
            if (lo is not None and float(value) < float(lo)) or (
                hi is not None and float(value) > float(hi)
            ):
                bad += 1
    stats = RowStats(
        count=len(rows),
        nulls={c: sum(1 for r in rows if r.get(c) is None) for c in checks.get("not_null", ())},
        newest=newest,
        out_of_range=bad,
    )
    return check_verdicts(label, checks, stats, period_end)


def run_checks(ws: Workspace, nodes: Iterable[str]) -> None:
    """Evaluate the quality checks of loaded sources and computed metrics."""
    for node in nodes:
        if node in ws.failures:
            continue
        failed: list[str] = []
        if node in ws.project.sources:
            spec = ws.project.sources[node]
            if spec.checks:
                failed = source_verdicts(ws, node, spec.checks)
        elif node in ws.project.metrics and ws.project.metrics[node].checks:
            failed = metric_verdicts(ws, node, ws.project.metrics[node].checks)
        if failed:
            ws.check_failures[node] = failed
        else:
            ws.check_failures.pop(node, None)


def source_verdicts(ws: Workspace, name: str, checks: Mapping[str, Any]) -> list[str]:
    """A loaded source's failed checks, measured by SQL on its table."""
    table = f'"{name}"'
    try:
        nulls = {
            col: ws.scalar(f'SELECT count(*) FROM {table} WHERE "{col}" IS NULL')
            for col in checks.get("not_null", ())
        }
        newest = None
        if "freshness" in checks:
            col = checks["freshness"]["column"]
            newest = ws.scalar(f'SELECT max("{col}")::DATE FROM {table}')
        bad = 0
        if "range" in checks:
            rule = checks["range"]
            col = rule["column"]
            conds = []
            if "min" in rule:
                conds.append(f'"{col}" < {float(rule["min"])}')
            if "max" in rule:
                conds.append(f'"{col}" > {float(rule["max"])}')
            if conds:
                bad = ws.scalar(f"SELECT count(*) FROM {table} WHERE {' OR '.join(conds)}")
        stats = RowStats(
            count=ws.scalar(f"SELECT count(*) FROM {table}"),
            nulls=nulls,
            newest=newest,
            out_of_range=bad or 0,
        )
    except Exception as exc:
        return [f"source '{name}': a check could not run: {duck_message(exc)}"]
    return check_verdicts(f"source '{name}'", checks, stats, ws.project.period.end)


def metric_verdicts(ws: Workspace, name: str, checks: Mapping[str, Any]) -> list[str]:
    """A metric's failed checks: its bounds, and whether it reconciles with another."""
    value = ws.values.get(name)
    number = float(value) if isinstance(value, (int, float, Decimal)) else None
    out = []
    if ("min" in checks or "max" in checks) and number is None:
        out.append(f"metric '{name}' has no value")
    if number is not None and "min" in checks and number < float(checks["min"]):
        out.append(f"metric '{name}' is {value}, below {checks['min']}")
    if number is not None and "max" in checks and number > float(checks["max"]):
        out.append(f"metric '{name}' is {value}, above {checks['max']}")
    if "equals" in checks:
        other = checks["equals"]["metric"]
        tolerance = float(checks["equals"].get("tolerance", 0))
        theirs = ws.values.get(other)
        if (
            number is None
            or not isinstance(theirs, (int, float, Decimal))
            or abs(number - float(theirs)) > tolerance
        ):
            out.append(
                f"metric '{name}' ({value}) does not reconcile with '{other}' "
                f"({theirs}), tolerance {tolerance:g}"
            )
    return out


def blocked_by(
    needs: Iterable[str],
    check_failures: Mapping[str, Sequence[str]],
    sections: Sequence[BoundSection],
    period_end: dt.date,
) -> tuple[str, ...]:
    """Why a report is blocked: the failed checks of the sources and metrics it needs,
    then those of its sections' rows. The one place that decides it; build, send, the
    archive and the preview read these reasons (none means not blocked)."""
    from_data = tuple(reason for node in sorted(needs) for reason in check_failures.get(node, ()))
    from_rows = tuple(
        reason
        for s in sections
        if s.spec.options.get("checks")
        for reason in row_checks(
            f"section '{s.spec.name}'", s.rows, s.columns, s.spec.options["checks"], period_end
        )
    )
    return from_data + from_rows
