"""KPI status, table preparation, severity ranking and periods."""

from __future__ import annotations

import datetime as dt

import pytest

from reportc.config.model import Period
from reportc.section_types.actions import _priority_key
from reportc.section_types.base import currency_decimals as _currency_decimals
from reportc.section_types.kpis import kpi_status


@pytest.mark.parametrize(
    ("value", "target", "direction", "expected"),
    [
        (10, 10, "higher", "good"),
        (9.5, 10, "higher", "warn"),
        (8, 10, "higher", "critical"),
        (None, 10, "higher", "missing"),
        (5, None, "higher", "neutral"),
        (18, 20, "lower", "good"),
        (21, 20, "lower", "warn"),
        (30, 20, "lower", "critical"),
        (0, 0, "lower", "good"),
    ],
)
def test_kpi_status(
    value: float | None, target: float | None, direction: str, expected: str
) -> None:
    assert kpi_status(value, target, direction, 0.1) == expected


def test_currency_decimals_are_chosen_per_column() -> None:
    assert _currency_decimals([1.5, 20, 300]) == 2
    assert _currency_decimals([1.5, 2000]) == 0
    assert _currency_decimals([10, 20]) == 0


def test_priority_order() -> None:
    assert sorted(["P3", "P1", "P10", "?", "P2"], key=_priority_key) == [
        "P1",
        "P2",
        "P3",
        "P10",
        "?",
    ]
    assert sorted(["low", "critical", "medium", "high"], key=_priority_key) == [
        "critical",
        "high",
        "medium",
        "low",
    ]


@pytest.mark.parametrize(
    ("text", "kind", "start", "end", "title"),
    [
        ("2026-10", "month", dt.date(2026, 10, 1), dt.date(2026, 10, 31), "October 2026"),
        ("2024-02", "month", dt.date(2024, 2, 1), dt.date(2024, 2, 29), "February 2024"),
        ("2026-Q4", "quarter", dt.date(2026, 10, 1), dt.date(2026, 12, 31), "Q4 2026"),
        ("2026", "year", dt.date(2026, 1, 1), dt.date(2026, 12, 31), "2026"),
    ],
)
def test_period_parse(text: str, kind: str, start: dt.date, end: dt.date, title: str) -> None:
    period = Period.parse(text)
    assert (period.kind, period.start, period.end, period.title) == (kind, start, end, title)


def test_default_period_is_the_last_complete_month() -> None:
    assert Period.default_for(dt.date(2026, 11, 30)).label == "2026-10"
    assert Period.default_for(dt.date(2027, 1, 1)).label == "2026-12"


def test_bad_period() -> None:
    with pytest.raises(ValueError, match="is not a period"):
        Period.parse("2026-13")


def test_the_period_before_and_its_short_title() -> None:
    from reportc.config.model import Period

    assert Period.parse("2026-10").previous.short_title == "Sep 2026"
    assert Period.parse("2026-01").previous.label == "2025-12"
    assert Period.parse("2026-Q1").previous.short_title == "Q4 2025"
    assert Period.parse("2026").previous.short_title == "2025"
