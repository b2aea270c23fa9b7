"""One JSON form for a figure, wherever it is written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from reportc.figures import json_value


def test_one_json_form() -> None:
    assert json_value(Decimal("2500.00")) == 2500
    assert json_value(Decimal("1234.56")) == 1234.56
    assert json_value(Decimal("NaN")) is None
    assert json_value(3.0) == 3 and json_value(float("inf")) is None
    assert json_value(dt.date(2026, 10, 31)) == "2026-10-31"
    assert json_value({"a": (Decimal("1.5"), True, None)}) == {"a": [1.5, True, None]}
    assert json_value(object.__new__(object)).startswith("<object")
