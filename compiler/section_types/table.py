"""The ``table`` section type: formatted columns, highlight rules, and a totals row.

Columns default to the rows' own, each formatted by its declared or guessed format
(currency columns choose cents once per column); ``highlight`` rules mark cells or rows
(``equals``, ``above``, ``below``) with a style and a label; ``total:`` per column adds
a totals row (sum of exact values, avg, min, max or count).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..errors import did_you_mean
from ..formatting import STATUS_COLUMN, Formatter, code_tone, humanise
from .base import (
    OptionProblem,
    Options,
    ReportView,
    SectionType,
    SectionView,
    Sheet,
    SheetColumn,
    Values,
    currency_decimals,
    in_range,
    rows_problems,
    section_problem,
    to_float,
)


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
    v = to_float(value)
    return v is not None and in_range(v, rule)


def _label(field: str) -> str:
    return field.replace("_", " ").capitalize()


def _columns(section: SectionView, report: ReportView) -> list[dict[str, Any]]:
    spec_cols = section.spec.options.get("columns") or list(section.columns)
    columns = []
    for i, col in enumerate(spec_cols):
        col = {"field": col} if isinstance(col, str) else dict(col)
        if section.columns and col["field"] not in section.columns:
            raise section_problem(
                section,
                report,
                f"no column '{col['field']}'{did_you_mean(col['field'], section.columns)}; "
                f"columns are: {', '.join(section.columns)}",
                "columns",
                i,
            )
        values = [r.get(col["field"]) for r in section.rows]
        col.setdefault("label", _label(col["field"]))
        col.setdefault("format", _guess_format(values))
        numeric = col["format"] in ("number", "integer", "currency", "percent", "compact")
        col.setdefault("align", "right" if numeric else "left")
        col.setdefault("width", "")
        if col["format"] == "currency" and col.get("decimals") is None:
            col["decimals"] = currency_decimals(values)
        col.setdefault(
            "chips", col["format"] == "text" and bool(STATUS_COLUMN.search(col["field"]))
        )
        columns.append(col)
    return columns


def _rules(section: SectionView, report: ReportView) -> list[Mapping[str, Any]]:
    rules = list(section.spec.options.get("highlight", ()))
    for i, rule in enumerate(rules):
        if section.columns and rule["column"] not in section.columns:
            raise section_problem(
                section,
                report,
                f"highlight rule names no column '{rule['column']}'"
                f"{did_you_mean(rule['column'], section.columns)}",
                "highlight",
                i,
                "column",
            )
    return rules


def _body_row(
    row: Mapping[str, Any],
    columns: Sequence[Mapping[str, Any]],
    rules: Sequence[Mapping[str, Any]],
    fmt: Formatter,
    labelled: Sequence[bool],
) -> dict[str, Any]:
    """A row's cells; ``labelled[k]`` says whether rule k's label shows on this row."""
    row_cls = ""
    flags: dict[str, tuple[str, str]] = {}
    for rule, show in zip(rules, labelled, strict=True):
        if _matches(rule, row.get(rule["column"])):
            style, label = rule["style"], rule.get("label", "") if show else ""
            if rule.get("row"):
                row_cls = style
                flags.setdefault("__row__", (style, label))
            else:
                flags.setdefault(rule["column"], (style, label))
    cells = []
    for col in columns:
        style, label = flags.get(col["field"], ("", ""))
        value = row.get(col["field"])
        chip = code_tone(value) if col["chips"] and value not in (None, "") else ""
        cells.append(
            {
                "text": cell_text(row, col, fmt),
                "align": col["align"],
                "style": style,
                "flag": label,
                "chip": chip,
            }
        )
    return {"cells": cells, "style": row_cls, "flag": flags.get("__row__", ("", ""))[1]}


def cell_text(row: Mapping[str, Any], col: Mapping[str, Any], fmt: Formatter) -> str:
    """A cell as read: "—" for a rate whose denominator is zero or missing, a code's
    label (``labels:``, else humanised in a status column), then the formatted value and
    its ``unit``."""
    value = row.get(col["field"])
    over = col.get("denominator")
    if over and (to_float(row.get(over)) in (None, 0.0)):
        return "—"
    labels = col.get("labels") or {}
    if value is not None and str(value) in labels:
        return str(labels[str(value)])
    if col["chips"] and isinstance(value, str):
        return humanise(value)
    text = fmt.format(value, col["format"], col.get("decimals"))
    unit = str(col.get("unit") or "")
    if not unit or value is None:
        return text
    return text + (unit if len(unit) == 1 and not unit.isalnum() else f" {unit}")


def _labelled(
    rows: Sequence[Mapping[str, Any]], rules: Sequence[Mapping[str, Any]]
) -> list[list[bool]]:
    """Whether each rule's label shows on each row: on every matching row with
    ``label_rows: all``; by default only on the first row of each run of matches (eleven
    "BREAK-EVEN" flags in a row are noise)."""
    matched = [[_matches(rule, row.get(rule["column"])) for rule in rules] for row in rows]
    return [
        [
            rule.get("label_rows", "first") == "all" or r == 0 or not matched[r - 1][k]
            for k, rule in enumerate(rules)
        ]
        for r in range(len(rows))
    ]


def _aggregate(agg: str, values: Sequence[Any]) -> Any:
    """``sum`` keeps exact integers and decimals exact; the others work on floats."""
    exact = [v for v in values if v is not None]
    present = [n for n in (to_float(v) for v in values) if n is not None]
    if agg == "count":
        return len(exact)
    if not present:
        return None
    if agg == "sum":
        return sum(exact) if all(isinstance(v, (int, Decimal)) for v in exact) else sum(present)
    if agg == "avg":
        return sum(present) / len(present)
    return min(present) if agg == "min" else max(present)


def _totals(
    section: SectionView, columns: Sequence[Mapping[str, Any]], fmt: Formatter
) -> list[dict[str, Any]] | None:
    if not any("total" in c for c in columns):
        return None
    totals: list[dict[str, Any]] = []
    for col in columns:
        if "total" not in col:
            totals.append({"text": "", "align": col["align"], "is_label": False})
            continue
        total = _aggregate(col["total"], [r.get(col["field"]) for r in section.rows])
        kind = "integer" if col["total"] == "count" else col["format"]
        totals.append(
            {
                "text": fmt.format(total, kind, col.get("decimals")),
                "align": col["align"],
                "value": total,
                "is_label": False,
            }
        )
    if totals and not totals[0]["text"]:
        totals[0]["text"] = section.spec.options.get("totals_label", "Total")
        totals[0]["is_label"] = True
    return totals


def prepare(section: SectionView, report: ReportView, fmt: Formatter) -> Values:
    columns = _columns(section, report)
    rules = _rules(section, report)
    labelled = _labelled(section.rows, rules)
    body = [
        _body_row(row, columns, rules, fmt, shown)
        for row, shown in zip(section.rows, labelled, strict=True)
    ]
    return {"table_columns": columns, "body": body, "totals": _totals(section, columns, fmt)}


_NUMERIC = ("number", "integer", "currency", "percent", "compact")


def sheet(section: SectionView, values: Values) -> Sheet:
    """The table as typed cells: numbers and dates as they are, a text column as the PDF
    reads it (its labels, humanised codes), a rate over a zero denominator empty."""
    columns = values["table_columns"]
    fmt = Formatter()
    rows = []
    for row in section.rows:
        cells: list[Any] = []
        for col in columns:
            value = row.get(col["field"])
            over = col.get("denominator")
            if over and to_float(row.get(over)) in (None, 0.0):
                value = None
            elif col["format"] not in (*_NUMERIC, "date", "month") and value is not None:
                value = cell_text(row, {**col, "unit": ""}, fmt)
            cells.append(value)
        rows.append(tuple(cells))
    return Sheet(
        tuple(
            SheetColumn(
                str(c["label"]),
                "compact" if c["format"] == "compact" else c["format"],
                c.get("decimals"),
                str(c.get("total", "")) if values.get("totals") else "",
                str(c.get("unit") or ""),
            )
            for c in columns
        ),
        tuple(rows),
        str(section.spec.options.get("totals_label", "Total")),
    )


def check(options: Options, metrics: Collection[str]) -> list[OptionProblem]:
    return rows_problems("table", options)


SCHEMA: dict[str, Any] = {
    "description": "A table of rows from 'source' or 'query', with per-column formats, an "
    "optional totals row and highlight rules.",
    "properties": {
        "columns": {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["field"],
                        "additionalProperties": False,
                        "properties": {
                            "field": {"type": "string"},
                            "label": {"type": "string"},
                            "format": {"$ref": "#/$defs/format"},
                            "decimals": {"type": "integer", "minimum": 0, "maximum": 6},
                            "align": {"enum": ["left", "right", "center"]},
                            "width": {"type": "string", "pattern": "^[0-9.]+(%|mm|cm|in|pt|em)$"},
                            "total": {"enum": ["sum", "avg", "count", "min", "max"]},
                            "labels": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                                "description": "What each code reads as: {at_risk: At risk}.",
                            },
                            "chips": {
                                "type": "boolean",
                                "description": "Show the values as labelled status chips "
                                "(default: for status, state, stage, priority, severity, rating, "
                                "health and risk columns).",
                            },
                            "unit": {
                                "type": "string",
                                "description": "After each value: a symbol (×) directly, "
                                "a word after a space.",
                            },
                            "denominator": {
                                "type": "string",
                                "description": "The column this rate is over: '—' where it "
                                "is zero or missing.",
                            },
                        },
                    },
                ]
            },
        },
        "totals_label": {"type": "string"},
        "highlight": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["column", "style"],
                "additionalProperties": False,
                "properties": {
                    "column": {"type": "string"},
                    "above": {"type": "number"},
                    "below": {"type": "number"},
                    "equals": {"type": ["string", "number", "boolean"]},
                    "style": {"enum": ["good", "warn", "critical"]},
                    "label": {
                        "type": "string",
                        "description": "Text shown next to a highlighted cell so colour "
                        "is not the only signal.",
                    },
                    "label_rows": {
                        "enum": ["first", "all"],
                        "description": "Label the first row of each run of matching rows "
                        "(default), or every matching row.",
                    },
                    "row": {
                        "type": "boolean",
                        "description": "Highlight the whole row, not only the cell.",
                    },
                },
            },
        },
        "empty": {"type": "string", "description": "Shown when there are no rows."},
    },
    "$defs": {
        "format": {
            "enum": ["text", "number", "integer", "currency", "percent", "date", "month", "compact"]
        }
    },
}

TYPE = SectionType("table", schema=SCHEMA, prepare=prepare, sheet=sheet, check=check)
