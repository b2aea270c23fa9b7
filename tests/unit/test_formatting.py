"""Babel formatting by locale: one filter set for every section."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from reportc.formatting import MISSING, Formatter


@pytest.mark.parametrize(
    ("locale", "kind", "value", "decimals", "expected"),
    [
        ("en_US", "number", 1234.5, None, "1,234.5"),
        ("de_DE", "number", 1234.5, None, "1.234,5"),
        ("en_US", "integer", 3.7, None, "4"),
        ("en_US", "currency", Decimal("12345.67"), None, "$12,346"),
        ("en_US", "currency", Decimal("24.50"), None, "$24.50"),
        ("en_US", "currency", -3200, None, "-$3,200"),
        ("de_DE", "currency", Decimal("12345.67"), 2, "12.345,67\xa0$"),
        ("en_US", "percent", 0.256, None, "26%"),
        ("de_DE", "percent", 0.256, 1, "25,6\xa0%"),
        ("en_US", "compact", 1234567, None, "1.2M"),
        ("de_DE", "compact", 1234567, None, "1,2\xa0Mio."),
        ("en_US", "date", dt.date(2026, 10, 31), None, "Oct 31, 2026"),
        ("de_DE", "date", dt.date(2026, 10, 31), None, "31.10.2026"),
        ("en_US", "month", dt.date(2026, 10, 1), None, "Oct 2026"),
        ("en_US", "date", "2026-10-31", None, "Oct 31, 2026"),
        ("en_US", "text", 5, None, "5"),
    ],
)
def test_formats(
    locale: str, kind: str, value: object, decimals: int | None, expected: str
) -> None:
    assert Formatter(locale, "USD").format(value, kind, decimals) == expected


@pytest.mark.parametrize("kind", ["number", "currency", "percent", "date", "month", "text"])
def test_missing_is_a_dash_never_zero(kind: str) -> None:
    assert Formatter().format(None, kind) == MISSING


def test_guesses_kind() -> None:
    f = Formatter()
    assert f.format(Decimal("3")) == "3"
    assert f.format(dt.date(2026, 1, 2)) == "Jan 2, 2026"
    assert f.format("x") == "x"


def test_euro() -> None:
    assert Formatter("de_DE", "EUR").format(1500, "currency") == "1.500\xa0€"
