"""The ``digest`` section type: headline figures, each linking to the report it comes from."""

from __future__ import annotations

from typing import Any

from ..formatting import Formatter
from .base import (
    ReportView,
    SectionType,
    SectionView,
    Summary,
    Values,
    item_decimals,
    item_names,
    item_problems,
)


def prepare(section: SectionView, report: ReportView, fmt: Formatter) -> Values:
    items = []
    declared = section.spec.options["items"]
    decimals = item_decimals(declared, report)
    for i, item in enumerate(declared):
        metric = report.metric_specs[item["value"]]
        value = report.metrics.get(item["value"])
        items.append(
            {
                "label": item["label"],
                "value": value,
                "value_text": fmt.format(value, item.get("format", metric.format), decimals[i]),
                "unit": item.get("unit", metric.unit),
                "report": item.get("report", ""),
                "report_title": report.report_titles.get(item.get("report", ""), ""),
                "style": item.get("style", "neutral"),
            }
        )
    return {"items": items}


def summary(values: Values) -> Summary:
    return Summary(
        highlights=tuple(
            {
                "label": item["label"],
                "value": item["value_text"],
                "unit": item["unit"],
                "status": "",
                "change": "",
                "tone": "",
            }
            for item in values["items"]
        )
    )


SCHEMA: dict[str, Any] = {
    "description": "A cross-report summary: a short list of headline figures, each section to a "
    "metric.",
    "required": ["items"],
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
                    "unit": {"type": "string"},
                    "report": {
                        "type": "string",
                        "description": "The persona whose report has the details.",
                    },
                    "style": {"enum": ["good", "warn", "critical", "neutral"]},
                },
            },
        }
    },
}

TYPE = SectionType(
    "digest",
    schema=SCHEMA,
    prepare=prepare,
    needs=item_names,
    summary=summary,
    check=item_problems,
)
