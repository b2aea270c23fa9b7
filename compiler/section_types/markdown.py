"""The ``markdown`` section type: narrative text (the common ``text`` key does the work)."""

from __future__ import annotations

from typing import Any

from .base import SectionType

SCHEMA: dict[str, Any] = {
    "description": "Narrative text. Markdown, with {{ metric_name }} and filters such as {{ "
    "monthly_burn | currency }}.",
    "required": ["text"],
    "properties": {"text": {"type": "string"}},
}

TYPE = SectionType("markdown", schema=SCHEMA)
