"""The ``chart`` section type: a Vega-Lite chart compiled from the options, as an SVG.

See :mod:`reportc.charts` for the chart kinds, thresholds and rules.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..charts import ChartError, axes, compile_chart, render_svg, svg_data_uri
from ..formatting import Formatter
from .base import (
    OptionProblem,
    Options,
    ReportView,
    SectionType,
    SectionView,
    Values,
    in_range,
    rows_problems,
    section_problem,
    to_float,
)


def prepare(section: SectionView, report: ReportView, fmt: Formatter) -> Values:
    opts = section.spec.options
    alt = opts.get("description") or f"Chart: {section.spec.title or section.spec.name}"
    if not section.rows and "data" not in opts.get("vega_lite", {}):
        # Nothing to draw: say so in a panel the size of the chart, not an error.
        return {"chart": None, "no_data": f"No data for {report.period.title}", "alt": alt}
    theme = report.spec.theme
    font = theme.font_family or "DejaVu Sans"
    try:
        spec = compile_chart(
            opts, section.rows, report.metrics, fmt, font=font, primary=theme.primary_color
        )
        svg = render_svg(spec, fmt, report.font_dirs, report.cache_dir)
    except ChartError as exc:
        raise section_problem(section, report, f"chart: {exc}") from None
    return {
        "chart": {
            "svg_uri": svg_data_uri(svg),
            "alt": alt,
            "legend": _legend(opts, section.rows),
            "svg": svg,
        }
    }


def _legend(opts: Options, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """A threshold only when some mark meets it (a square, like the bars it colours);
    a labelled rule as a line, like the rule it names."""
    fields = [a["field"] for a in axes(opts.get("y"))]
    values = [v for row in rows for f in fields if (v := to_float(row.get(f))) is not None]
    legend = [
        {"style": t["style"], "label": t["label"], "shape": "square"}
        for t in opts.get("thresholds", ())
        if t.get("label") and any(in_range(v, t) for v in values)
    ]
    legend += [
        {"style": r.get("style", "neutral"), "label": r["label"], "shape": "line"}
        for r in opts.get("rules", ())
        if r.get("label")
    ]
    return legend


def check(options: Options, metrics: Collection[str]) -> list[OptionProblem]:
    """A short-form chart needs x and y (and a combo its line); a full spec needs rows
    only if it has no data of its own."""
    if "vega_lite" in options:
        return []
    problems: list[OptionProblem] = [
        (f"missing required key '{key}' (or give a full 'vega_lite' spec)", ())
        for key in ("x", "y")
        if key not in options
    ]
    if options.get("kind") == "combo" and "line" not in options:
        problems.append(("a combo chart needs 'line' (the column drawn as a line)", ()))
    return problems + rows_problems("chart", options)


SCHEMA: dict[str, Any] = {
    "description": "A chart compiled to Vega-Lite and rendered to vector SVG at build time: "
    "line, bar (grouped or stacked), area, or combo (bars plus a line on a second "
    "axis). Give the short form (kind, x, y ...) or a full Vega-Lite spec in "
    "vega_lite.",
    "properties": {
        "kind": {"enum": ["line", "bar", "area", "combo"]},
        "x": {"$ref": "#/$defs/axis"},
        "y": {
            "oneOf": [
                {"$ref": "#/$defs/axis"},
                {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/axis"}},
            ]
        },
        "line": {
            "oneOf": [
                {"$ref": "#/$defs/axis"},
                {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/axis"}},
            ],
            "description": "combo: the column(s) drawn as a line on the right-hand axis.",
        },
        "series": {
            "type": "string",
            "description": "A column whose values become separately coloured series.",
        },
        "stack": {
            "type": "boolean",
            "description": "Stack bars/areas of several series (default: bars "
            "side by side, areas stacked).",
        },
        "horizontal": {"type": "boolean", "description": "Bars along the horizontal axis."},
        "y_title": {"type": "string"},
        "height": {"type": "integer", "minimum": 80, "maximum": 800},
        "rules": {
            "type": "array",
            "description": "Reference lines: a target (y) or a moment (x), by "
            "value or metric name.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "x": {"type": ["string", "number"]},
                    "y": {"type": ["string", "number"]},
                    "label": {"type": "string"},
                    "style": {"enum": ["good", "warn", "critical", "neutral"]},
                },
            },
        },
        "thresholds": {
            "type": "array",
            "description": "Colour marks by value, each with a label shown "
            "under the chart (not colour alone).",
            "items": {
                "type": "object",
                "required": ["style", "label"],
                "additionalProperties": False,
                "properties": {
                    "above": {"type": "number"},
                    "below": {"type": "number"},
                    "style": {"enum": ["good", "warn", "critical", "neutral"]},
                    "label": {"type": "string"},
                },
            },
        },
        "description": {
            "type": "string",
            "description": "Text alternative for readers who cannot see the chart.",
        },
        "vega_lite": {
            "type": "object",
            "description": "A full Vega-Lite spec; its data defaults to the section's rows.",
        },
    },
    "$defs": {
        "axis": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "required": ["field"],
                    "additionalProperties": False,
                    "properties": {
                        "field": {"type": "string"},
                        "title": {"type": "string"},
                        "format": {
                            "enum": [
                                "text",
                                "number",
                                "integer",
                                "currency",
                                "percent",
                                "date",
                                "month",
                                "compact",
                            ]
                        },
                        "decimals": {"type": "integer", "minimum": 0, "maximum": 6},
                    },
                },
            ]
        }
    },
}

TYPE = SectionType("chart", schema=SCHEMA, prepare=prepare, check=check)
