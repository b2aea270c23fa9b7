"""Figures as JSON: one conversion for every file reportc writes them to.

The archive's ``values.json``, the PDF/A ``metrics.json`` attachment, the manifest's
figures and the data a chart is drawn from all use :func:`json_value`, so a figure
has one JSON form wherever it is read: a Decimal is a number (an integer when it is
whole), a date its ISO text, a mapping or sequence converted item by item, and
anything else its text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """``value`` as plain JSON data (see the module's docstring)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def canonical(values: Any) -> bytes:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def values_digest(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()
