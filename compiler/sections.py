"""What each built-in section type computes before its template runs.

A *preparer* turns a bound section (options + rows) into template context:
KPI statuses, formatted table cells with totals and highlight classes,
severity-ranked findings with counts, sorted action items, digest figures.
Keeping this in Python (not in templates) makes it testable and lets a project
override a built-in template by file name and still get the same context.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from markupsafe import Markup

from .bind import BoundReport, BoundSection
from .config.yamlpos import format_path
from .errors import DataError, Problem, did_you_mean
from .formatting import FORMATS, TONE_COLOURS, Formatter, as_date

DEFAULT_SEVERITIES = ("critical", "high", "medium", "low", "info")
STATUS_LABELS = {
    "good": "On target",
    "warn": "Near target",
    "critical": "Off target",
    "missing": "Missing",
    "neutral": "",
}
_PRIORITY_WORDS = {"critical": 0, "urgent": 0, "high": 1, "medium": 2, "normal": 2, "low": 3}


@dataclass(frozen=True)
class Prepared:
    """Context a section template receives besides the common keys."""

    values: Mapping[str, Any]


def _problem(bound: BoundSection, report: BoundReport, message: str, *key: str | int) -> DataError:
    path = ("sections", bound.spec.name, *key)
    return DataError(
        Problem(
            f"report '{report.spec.name}', section '{bound.spec.name}': {message}",
            report.positions.at(path),
            format_path(path),
        )
    )


def _check_fields(
    bound: BoundSection,
    report: BoundReport,
    wanted: Mapping[str, str],
    required: Sequence[str],
    key: str = "fields",
) -> None:
    if not bound.rows and not bound.columns:
        return
    for role, column in wanted.items():
        if column not in bound.columns and (role in required or role in _explicit(bound, key)):
            raise _problem(
                bound,
                report,
                f"no column '{column}' for {role}{did_you_mean(column, bound.columns)}; "
                f"columns are: {', '.join(bound.columns)}",
                key,
                role,
            )


def _explicit(bound: BoundSection, key: str) -> Mapping[str, Any]:
    value = bound.spec.options.get(key, {})
    return value if isinstance(value, Mapping) else {}


def _fields(bound: BoundSection, defaults: Sequence[str]) -> dict[str, str]:
    return {**{d: d for d in defaults}, **_explicit(bound, "fields")}


def _to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def kpi_status(value: Any, target: Any, direction: str = "higher", tolerance: float = 0.1) -> str:
    """good / warn / critical against a target; missing when there is no value."""
    v, t = _to_float(value), _to_float(target)
    if v is None:
        return "missing"
    if t is None:
        return "neutral"
    slack = abs(t) * tolerance
    if direction == "lower":
        if v <= t:
            return "good"
        return "warn" if v <= t + slack else "critical"
    if v >= t:
        return "good"
    return "warn" if v >= t - slack else "critical"


def in_range(v: float, rule: Mapping[str, Any]) -> bool:
    """Whether ``v`` satisfies a rule's ``above`` and ``below`` bounds (both exclusive)."""
    if "above" in rule and not v > float(rule["above"]):
        return False
    return not ("below" in rule and not v < float(rule["below"]))


def threshold_status(value: Any, rules: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The first rule the value satisfies: (style, label); None when none applies."""
    v = _to_float(value)
    if v is None:
        return None
    for rule in rules:
        if in_range(v, rule):
            return rule["style"], rule.get("label", STATUS_LABELS.get(rule["style"], ""))
    return None


def delta(
    value: Any,
    previous: Any,
    kind: str | None,
    fmt: Formatter,
    direction: str = "higher",
    against: str = "previous",
) -> dict[str, str] | None:
    """Change against the previous period: ▲/▼, the amount, and whether that is good."""
    v, p = _to_float(value), _to_float(previous)
    if v is None or p is None:
        return None
    change = v - p
    arrow = "▲" if change > 0 else ("▼" if change < 0 else "■")
    if kind == "percent":
        amount = f"{abs(change) * 100:.1f} pts"
    elif p != 0:
        amount = fmt.percent(abs(change) / abs(p), 1)
    else:
        amount = fmt.format(abs(change), kind)
    better = (change > 0) if direction != "lower" else (change < 0)
    tone = "neutral" if change == 0 else ("good" if better else "critical")
    word = "up" if change > 0 else ("down" if change < 0 else "unchanged")
    return {"arrow": arrow, "text": f"{amount} vs {against}", "tone": tone, "word": word}


def _card(
    fmt: Formatter,
    *,
    label: Any,
    value: Any,
    target: Any,
    kind: str | None,
    decimals: int | None,
    unit: str,
    direction: str,
    tolerance: float,
    thresholds: Sequence[Mapping[str, Any]],
    previous: Any = None,
    group: str = "",
    note: str = "",
    against: str = "previous",
    trend: Sequence[Any] = (),
) -> dict[str, Any]:
    by_rule = threshold_status(value, thresholds) if thresholds else None
    if by_rule is not None:
        status, status_label = by_rule
    else:
        status = kpi_status(value, target, direction, tolerance)
        status_label = STATUS_LABELS[status]
    change = delta(value, previous, kind, fmt, direction, against)
    return {
        "label": label,
        "value": value,
        "value_text": fmt.format(value, kind, decimals),
        "target": target,
        "target_text": fmt.format(target, kind, decimals) if target is not None else "",
        "unit": unit,
        "status": status,
        "status_label": status_label,
        "delta": change,
        "trend": sparkline(trend, TONE_COLOURS[change["tone"] if change else "neutral"]),
        "group": group,
        "note": note,
    }


#: The report CSS's tone colours, for SVG (which does not inherit ``currentColor`` in print).


def sparkline(
    values: Sequence[Any], colour: str = "#5b6675", width: int = 96, height: int = 22
) -> Markup | None:
    """A small inline SVG line of ``values`` (oldest first; the last point marked)."""
    points = [(i, f) for i, f in enumerate(_to_float(v) for v in values) if f is not None]
    if len(points) < 2:
        return None
    lo, hi = min(f for _, f in points), max(f for _, f in points)
    span, last = (hi - lo) or 1.0, max(len(values) - 1, 1)
    pad = 3.0

    def xy(i: int, f: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * i / last
        y = height - pad - (height - 2 * pad) * ((f - lo) / span if hi > lo else 0.5)
        return round(x, 1), round(y, 1)

    coords = [xy(i, f) for i, f in points]
    line = " ".join(f"{x},{y}" for x, y in coords)
    x, y = coords[-1]
    return Markup(
        f'<svg class="trend" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="trend over {len(points)} runs">'
        f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5" '
        f'stroke-linejoin="round" stroke-linecap="round"/>'
        f'<circle cx="{x}" cy="{y}" r="2.2" fill="{colour}"/></svg>'
    )


def _archived(
    report: BoundReport, opts: Mapping[str, Any], section: str, metric: str | None, label: Any
) -> tuple[Any, str, list[Any]]:
    """(baseline value, its label, trend values before this run) from the archive."""
    from .archive import point_value

    history = report.history
    baseline, against = None, "previous"
    if opts.get("compare") == "archive" and history:
        baseline = point_value(history[-1], section, metric, label)
        against = history[-1].label
    trend: list[Any] = []
    if opts.get("trend") and history:
        keep = int(opts["trend"]) - 1
        trend = [point_value(p, section, metric, label) for p in history[-keep:]]
    return baseline, against, trend


def prepare_kpis(bound: BoundSection, report: BoundReport, fmt: Formatter) -> Prepared:
    opts = bound.spec.options
    tolerance = float(opts.get("tolerance", 0.1))
    section_rules = opts.get("thresholds", ())
    name = bound.spec.name
    cards = []
    if "items" in opts:
        for item in opts["items"]:
            metric = report.metric_specs[item["value"]]
            target = item.get("target")
            if isinstance(target, str):
                target = report.metrics.get(target)
            value = report.metrics.get(item["value"])
            previous, against, trend = _archived(report, opts, name, item["value"], None)
            if "previous" in item:
                previous, against = report.metrics.get(item["previous"]), "previous"
            cards.append(
                _card(
                    fmt,
                    label=item["label"],
                    value=value,
                    target=target,
                    kind=item.get("format", metric.format),
                    decimals=item.get("decimals", metric.decimals),
                    unit=item.get("unit", metric.unit),
                    direction=item.get("direction", "higher"),
                    tolerance=float(item.get("tolerance", tolerance)),
                    thresholds=item.get("thresholds", section_rules),
                    previous=previous,
                    note=item.get("note", ""),
                    against=against,
                    trend=[*trend, value] if trend else (),
                )
            )
    else:
        f = _fields(
            bound,
            (
                "label",
                "value",
                "target",
                "unit",
                "format",
                "direction",
                "group",
                "note",
                "previous",
            ),
        )
        _check_fields(bound, report, f, ("label", "value"))
        for row in bound.rows:
            kind = row.get(f["format"]) or opts.get("format")
            label, value = row.get(f["label"]), row.get(f["value"])
            previous, against, trend = _archived(report, opts, name, None, label)
            if row.get(f["previous"]) is not None:
                previous, against = row.get(f["previous"]), "previous"
            cards.append(
                _card(
                    fmt,
                    label=label,
                    value=value,
                    target=row.get(f["target"]),
                    kind=kind if kind in FORMATS else None,
                    decimals=None,
                    unit=row.get(f["unit"]) or "",
                    direction=str(row.get(f["direction"]) or "higher"),
                    tolerance=tolerance,
                    thresholds=section_rules,
                    previous=previous,
                    group=row.get(f["group"]) or "",
                    note=row.get(f["note"]) or "",
                    against=against,
                    trend=[*trend, value] if trend else (),
                )
            )
    counts = {s: sum(1 for c in cards if c["status"] == s) for s in STATUS_LABELS}
    return Prepared({"cards": cards, "status_counts": counts, "columns": opts.get("columns", 3)})


def _guess_format(values: Sequence[Any]) -> str:
    sample = [v for v in values if v is not None]
    if sample and all(
        isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in sample
    ):
        return "number"
    if sample and all(isinstance(v, dt.date) for v in sample):
        return "date"
    return "text"


def _matches(rule: Mapping[str, Any], value: Any) -> bool:
    if "equals" in rule:
        want = rule["equals"]
        if isinstance(want, str) and value is not None:
            return str(value).lower() == want.lower()
        return bool(value == want)
    v = _to_float(value)
    return v is not None and in_range(v, rule)


def _currency_decimals(values: Sequence[Any]) -> int:
    """One choice per column: cents only when every amount is small and some have cents."""
    nums = [f for f in (_to_float(v) for v in values) if f is not None]
    if nums and all(abs(n) < 1000 for n in nums) and any(not n.is_integer() for n in nums):
        return 2
    return 0


def _label(field: str) -> str:
    return field.replace("_", " ").capitalize()


def prepare_table(bound: BoundSection, report: BoundReport, fmt: Formatter) -> Prepared:
    opts = bound.spec.options
    spec_cols = opts.get("columns") or list(bound.columns)
    columns = []
    for i, col in enumerate(spec_cols):
        col = {"field": col} if isinstance(col, str) else dict(col)
        if bound.columns and col["field"] not in bound.columns:
            raise _problem(
                bound,
                report,
                f"no column '{col['field']}'{did_you_mean(col['field'], bound.columns)}; "
                f"columns are: {', '.join(bound.columns)}",
                "columns",
                i,
            )
        values = [r.get(col["field"]) for r in bound.rows]
        col.setdefault("label", _label(col["field"]))
        col.setdefault("format", _guess_format(values))
        numeric = col["format"] in ("number", "integer", "currency", "percent", "compact")
        col.setdefault("align", "right" if numeric else "left")
        col.setdefault("width", "")
        if col["format"] == "currency" and col.get("decimals") is None:
            col["decimals"] = _currency_decimals(values)
        columns.append(col)
    rules = list(opts.get("highlight", ()))
    for i, rule in enumerate(rules):
        if bound.columns and rule["column"] not in bound.columns:
            raise _problem(
                bound,
                report,
                f"highlight rule names no column '{rule['column']}'"
                f"{did_you_mean(rule['column'], bound.columns)}",
                "highlight",
                i,
                "column",
            )
    body = []
    for row in bound.rows:
        row_cls = ""
        flags: dict[str, tuple[str, str]] = {}
        for rule in rules:
            if _matches(rule, row.get(rule["column"])):
                style, label = rule["style"], rule.get("label", "")
                if rule.get("row"):
                    row_cls = style
                    flags.setdefault("__row__", (style, label))
                else:
                    flags.setdefault(rule["column"], (style, label))
        cells = []
        for col in columns:
            style, label = flags.get(col["field"], ("", ""))
            cells.append(
                {
                    "text": fmt.format(row.get(col["field"]), col["format"], col.get("decimals")),
                    "align": col["align"],
                    "style": style,
                    "flag": label,
                }
            )
        row_flag = flags.get("__row__", ("", ""))[1]
        body.append({"cells": cells, "style": row_cls, "flag": row_flag})
    totals = None
    if any("total" in c for c in columns):
        totals = []
        for col in columns:
            if "total" not in col:
                totals.append({"text": "", "align": col["align"], "is_label": False})
                continue
            nums = [_to_float(r.get(col["field"])) for r in bound.rows]
            present = [n for n in nums if n is not None]
            exact = [r.get(col["field"]) for r in bound.rows if r.get(col["field"]) is not None]
            agg = col["total"]
            total: Any
            if agg == "count":
                total = len(exact)
            elif not present:
                total = None
            elif agg == "sum":
                total = (
                    sum(exact)
                    if all(isinstance(v, (int, Decimal)) for v in exact)
                    else sum(present)
                )
            elif agg == "avg":
                total = sum(present) / len(present)
            elif agg == "min":
                total = min(present)
            else:
                total = max(present)
            kind = "integer" if agg == "count" else col["format"]
            totals.append(
                {
                    "text": fmt.format(total, kind, col.get("decimals")),
                    "align": col["align"],
                    "value": total,
                    "is_label": False,
                }
            )
        if totals and not totals[0]["text"]:
            totals[0]["text"] = opts.get("totals_label", "Total")
            totals[0]["is_label"] = True
    return Prepared({"table_columns": columns, "body": body, "totals": totals})


def _severity_rank(severities: Sequence[str]) -> Callable[[Any], int]:
    order = {s.lower(): i for i, s in enumerate(severities)}
    return lambda s: order.get(str(s).lower(), len(order))


def prepare_findings(bound: BoundSection, report: BoundReport, fmt: Formatter) -> Prepared:
    opts = bound.spec.options
    f = _fields(bound, ("id", "title", "severity", "detail", "entity", "recommendation"))
    _check_fields(bound, report, f, ("title", "severity"))
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
        for row in bound.rows
    ]
    items.sort(key=lambda it: (rank(it["severity"]), str(it["entity"]), str(it["title"])))
    counts = [(s, sum(1 for it in items if it["severity"] == s.lower())) for s in severities]
    extra = sorted({str(it["severity"]) for it in items} - {s.lower() for s in severities})
    counts += [(s, sum(1 for it in items if it["severity"] == s)) for s in extra]
    return Prepared(
        {"findings": items, "severity_counts": counts, "show_counts": opts.get("show_counts", True)}
    )


def _priority_key(value: Any) -> tuple[int, str]:
    text = str(value or "").strip().lower()
    if text in _PRIORITY_WORDS:
        return (_PRIORITY_WORDS[text], text)
    match = re.match(r"^p?(\d+)$", text)
    if match:
        return (int(match.group(1)), text)
    return (99, text)


def prepare_actions(bound: BoundSection, report: BoundReport, fmt: Formatter) -> Prepared:
    opts = bound.spec.options
    f = _fields(bound, ("action", "priority", "owner", "due", "entity", "status"))
    _check_fields(bound, report, f, ("action",))
    horizon = opts.get("horizon_days")
    limit_date = report.period.end + dt.timedelta(days=int(horizon)) if horizon else None
    items = []
    for row in bound.rows:
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
                "status": row.get(f["status"]) or "",
            }
        )
    items.sort(
        key=lambda it: (_priority_key(it["priority"]), it["due"] or dt.date.max, str(it["action"]))
    )
    return Prepared({"actions": items, "horizon_end": limit_date})


def prepare_digest(bound: BoundSection, report: BoundReport, fmt: Formatter) -> Prepared:
    items = []
    for item in bound.spec.options["items"]:
        metric = report.metric_specs[item["value"]]
        value = report.metrics.get(item["value"])
        items.append(
            {
                "label": item["label"],
                "value": value,
                "value_text": fmt.format(
                    value, item.get("format", metric.format), item.get("decimals", metric.decimals)
                ),
                "unit": item.get("unit", metric.unit),
                "report": item.get("report", ""),
                "report_title": report.report_titles.get(item.get("report", ""), ""),
                "style": item.get("style", "neutral"),
            }
        )
    return Prepared({"items": items})


def prepare_chart(bound: BoundSection, report: BoundReport, fmt: Formatter) -> Prepared:
    from .charts import ChartError, compile_chart, render_svg, svg_data_uri

    opts = bound.spec.options
    theme = report.spec.theme
    font = theme.font_family or "DejaVu Sans"
    try:
        spec = compile_chart(
            opts, bound.rows, report.metrics, fmt, font=font, primary=theme.primary_color
        )
        svg = render_svg(spec, fmt, report.font_dirs, report.cache_dir)
    except ChartError as exc:
        raise _problem(bound, report, f"chart: {exc}") from None
    legend = [{"style": t["style"], "label": t["label"]} for t in opts.get("thresholds", ())]
    legend += [
        {"style": r.get("style", "neutral"), "label": r["label"]}
        for r in opts.get("rules", ())
        if r.get("label")
    ]
    alt = opts.get("description") or f"Chart: {bound.spec.title or bound.spec.name}"
    return Prepared(
        {"chart": {"svg_uri": svg_data_uri(svg), "alt": alt, "legend": legend, "svg": svg}}
    )


def prepare_generic(bound: BoundSection, report: BoundReport, fmt: Formatter) -> Prepared:
    return Prepared({})


PREPARERS: Mapping[str, Callable[[BoundSection, BoundReport, Formatter], Prepared]] = {
    "kpis": prepare_kpis,
    "table": prepare_table,
    "findings": prepare_findings,
    "actions": prepare_actions,
    "digest": prepare_digest,
    "chart": prepare_chart,
}
