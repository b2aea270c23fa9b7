"""The ``kpis`` section type: KPI cards with status against a target, change and trend.

Cards come from ``items:`` (each a metric) or from rows (``fields:`` name the columns).
A card's status is the first matching threshold rule, else its distance from the target
(``tolerance``); its change is against a row's ``previous`` column, a metric, or an
archived run (``compare: archive``), and ``trend: N`` draws the last N runs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from ..formatting import FORMATS, TONE_COLOURS, Formatter
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
    in_range,
    item_decimals,
    item_names,
    item_problems,
    point_value,
    rows_problems,
    to_float,
)
from .base import (
    Typed as _Typed,
)

STATUS_LABELS = {
    "good": "On target",
    "warn": "Near target",
    "critical": "Off target",
    "missing": "Missing",
    "neutral": "",
}
_ROW_ROLES = (
    "label",
    "value",
    "target",
    "unit",
    "format",
    "direction",
    "group",
    "note",
    "previous",
)


def kpi_status(value: Any, target: Any, direction: str = "higher", tolerance: float = 0.1) -> str:
    """good / warn / critical against a target; missing when there is no value."""
    v, t = to_float(value), to_float(target)
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


def threshold_status(value: Any, rules: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The first rule the value satisfies: (style, label); None when none applies."""
    v = to_float(value)
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
    v, p = to_float(value), to_float(previous)
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
        "kind": kind,
        "decimals": decimals,
    }


def sparkline(
    values: Sequence[Any], colour: str = "#5b6675", width: int = 96, height: int = 22
) -> Markup | None:
    """A small inline SVG line of ``values`` (oldest first; the last point marked)."""
    points = [(i, f) for i, f in enumerate(to_float(v) for v in values) if f is not None]
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
    report: ReportView, opts: Options, section: str, metric: str | None, label: Any
) -> tuple[Any, str, list[Any]]:
    """(baseline value, its label, trend values before this run) from the archive."""
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


def _item_cards(section: SectionView, report: ReportView, fmt: Formatter) -> list[dict[str, Any]]:
    opts = section.spec.options
    cards = []
    decimals = item_decimals(opts["items"], report)
    for i, item in enumerate(opts["items"]):
        metric = report.metric_specs[item["value"]]
        target = item.get("target")
        if isinstance(target, str):
            target = report.metrics.get(target)
        value = report.metrics.get(item["value"])
        previous, against, trend = _archived(report, opts, section.spec.name, item["value"], None)
        if "previous" in item:
            previous = report.metrics.get(item["previous"])
            against = report.period.previous.short_title
        cards.append(
            _card(
                fmt,
                label=item["label"],
                value=value,
                target=target,
                kind=item.get("format", metric.format),
                decimals=decimals[i],
                unit=item.get("unit", metric.unit),
                direction=item.get("direction", "higher"),
                tolerance=float(item.get("tolerance", opts.get("tolerance", 0.1))),
                thresholds=item.get("thresholds", opts.get("thresholds", ())),
                previous=previous,
                note=item.get("note", ""),
                against=against,
                trend=[*trend, value] if trend else (),
            )
        )
    return cards


def _row_cards(section: SectionView, report: ReportView, fmt: Formatter) -> list[dict[str, Any]]:
    opts = section.spec.options
    f = fields(section, _ROW_ROLES)
    check_fields(section, report, f, ("label", "value"))
    cards = []
    for row in section.rows:
        kind = row.get(f["format"]) or opts.get("format")
        label, value = row.get(f["label"]), row.get(f["value"])
        previous, against, trend = _archived(report, opts, section.spec.name, None, label)
        if row.get(f["previous"]) is not None:
            previous, against = row.get(f["previous"]), report.period.previous.short_title
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
                tolerance=float(opts.get("tolerance", 0.1)),
                thresholds=opts.get("thresholds", ()),
                previous=previous,
                group=row.get(f["group"]) or "",
                note=row.get(f["note"]) or "",
                against=against,
                trend=[*trend, value] if trend else (),
            )
        )
    return cards


def prepare(section: SectionView, report: ReportView, fmt: Formatter) -> Values:
    opts = section.spec.options
    items = "items" in opts
    cards = _item_cards(section, report, fmt) if items else _row_cards(section, report, fmt)
    counts = {s: sum(1 for c in cards if c["status"] == s) for s in STATUS_LABELS}
    return {
        "cards": cards,
        "status_counts": counts,
        "status_line": status_line(counts),
        "columns": opts.get("columns", 3),
    }


def status_line(counts: Mapping[str, int]) -> str:
    """ "6 KPIs: 1 on target, 0 near target, 1 off target, 0 missing, 4 without a target":
    the parts always add up to the whole (a card with no target is counted as such)."""
    total = sum(counts.values())
    parts = [
        f"{counts['good']} on target",
        f"{counts['warn']} near target",
        f"{counts['critical']} off target",
        f"{counts['missing']} missing",
    ]
    if counts.get("neutral"):
        parts.append(f"{counts['neutral']} without a target")
    return f"{total} KPI{'s' if total != 1 else ''}: " + ", ".join(parts) + "."


def summary(values: Values) -> Summary:
    """Each card, with its change ("▲ 2.6% vs 23 Nov 2026") and whether that is good news."""
    return Summary(
        highlights=tuple(
            {
                "label": card["label"],
                "value": card["value_text"],
                "unit": card["unit"],
                "status": card["status_label"],
                "change": f"{card['delta']['arrow']} {card['delta']['text']}"
                if card["delta"]
                else "",
                "tone": card["delta"]["tone"] if card["delta"] else "",
            }
            for card in values["cards"]
        )
    )


def figures(section: SectionView) -> Mapping[str, Any] | None:
    """Cards built from rows, label -> value (cards from ``items:`` are metrics, kept anyway)."""
    opts = section.spec.options
    if "items" in opts:
        return None
    names = dict(opts.get("fields") or {})
    label, value = names.get("label", "label"), names.get("value", "value")
    return {str(row.get(label)): row.get(value) for row in section.rows}


def sheet(section: SectionView, values: Values) -> Sheet:
    """One row per card: its value and target typed as the card shows them (a sheet column
    holds one format, so each row's format is its own: see the workbook's writer)."""
    rows = tuple(
        (
            str(card["label"] if card["label"] is not None else ""),
            card["group"] or None,
            _Typed(card["value"], card["kind"] or "", card["decimals"]),
            _Typed(card["target"], card["kind"] or "", card["decimals"]),
            card["unit"] or None,
            card["status_label"] or None,
            f"{card['delta']['arrow']} {card['delta']['text']}" if card["delta"] else None,
        )
        for card in values["cards"]
    )
    keep = [i for i in range(7) if i in (0, 2) or any(r[i] not in (None, "") for r in rows)]
    keep = [i for i in keep if i != 3 or any(r[3].value is not None for r in rows)]
    labels = ("KPI", "Group", "Value", "Target", "Unit", "Status", "Change")
    return Sheet(
        tuple(SheetColumn(labels[i], "typed" if i in (2, 3) else "text") for i in keep),
        tuple(tuple(r[i] for i in keep) for r in rows),
    )


def history(options: Options) -> int:
    """1 archived run for ``compare: archive``, N-1 for ``trend: N``."""
    want = 1 if options.get("compare") == "archive" else 0
    if options.get("trend"):
        want = max(want, int(options["trend"]) - 1)
    return want


def check(options: Options, metrics: Collection[str]) -> list[OptionProblem]:
    """Cards come from ``items`` (known metrics) or from rows."""
    return rows_problems("kpis", options, "items") + item_problems(options, metrics)


SCHEMA: dict[str, Any] = {
    "description": "KPI cards: value, target, unit and a status (good / warn / critical / "
    "missing) from the target and tolerance. Cards come from 'items' (bound to "
    "metrics) or from rows of 'source'/'query' mapped by 'fields'.",
    "properties": {
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["label", "value"],
                "additionalProperties": False,
                "properties": {
                    "label": {"type": "string"},
                    "value": {"type": "string", "description": "A metric name."},
                    "target": {
                        "type": ["number", "string"],
                        "description": "A number, or a metric name.",
                    },
                    "format": {"$ref": "#/$defs/format"},
                    "decimals": {"type": "integer", "minimum": 0, "maximum": 6},
                    "unit": {"type": "string"},
                    "direction": {"enum": ["higher", "lower"]},
                    "tolerance": {"type": "number", "minimum": 0, "maximum": 1},
                    "note": {"type": "string"},
                    "previous": {
                        "type": "string",
                        "description": "A metric "
                        "holding the "
                        "previous "
                        "period's "
                        "value; shows "
                        "a ▲/▼ "
                        "change.",
                    },
                    "thresholds": {"$ref": "#/$defs/thresholds"},
                },
            },
        },
        "fields": {
            "type": "object",
            "additionalProperties": False,
            "description": "Which columns of the rows hold each part of a card "
            "(defaults: the same names).",
            "properties": {
                "label": {"type": "string"},
                "value": {"type": "string"},
                "target": {"type": "string"},
                "unit": {"type": "string"},
                "format": {"type": "string"},
                "direction": {"type": "string"},
                "group": {"type": "string"},
                "note": {"type": "string"},
                "previous": {"type": "string"},
            },
        },
        "format": {"$ref": "#/$defs/format"},
        "tolerance": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How far off target (as a fraction) still counts "
            "as 'warn'. Default 0.1.",
        },
        "columns": {"type": "integer", "minimum": 1, "maximum": 4},
        "thresholds": {"$ref": "#/$defs/thresholds"},
        "compare": {
            "enum": ["archive"],
            "description": "archive: show each card's change (▲/▼) against "
            "the previous archived run (needs archive: in the "
            "project). An item's own 'previous' wins.",
        },
        "trend": {
            "type": "integer",
            "minimum": 2,
            "maximum": 24,
            "description": "Draw a small trend of the last N archived runs "
            "(this one included) on each card.",
        },
    },
    "$defs": {
        "format": {
            "enum": ["text", "number", "integer", "currency", "percent", "date", "month", "compact"]
        },
        "thresholds": {
            "type": "array",
            "description": "Status by value instead of by target, first match "
            "wins, e.g. {below: 6, style: critical, label: Under "
            "6 months}.",
            "items": {
                "type": "object",
                "required": ["style"],
                "additionalProperties": False,
                "properties": {
                    "above": {"type": "number"},
                    "below": {"type": "number"},
                    "style": {"enum": ["good", "warn", "critical", "neutral"]},
                    "label": {"type": "string"},
                },
            },
        },
    },
}


TYPE = SectionType(
    "kpis",
    schema=SCHEMA,
    prepare=prepare,
    needs=item_names,
    summary=summary,
    figures=figures,
    sheet=sheet,
    history=history,
    check=check,
)
