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


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_every_chip_meets_wcag_aa_contrast() -> None:
    from reportc.formatting import CHIP_COLOURS

    assert {"critical", "high", "medium", "low"} <= set(CHIP_COLOURS)
    severities = [CHIP_COLOURS[s] for s in ("critical", "high", "medium", "low")]
    assert len(set(severities)) == 4  # each severity its own colour
    for tone, (text, tint) in CHIP_COLOURS.items():
        light, dark = sorted((_luminance(text), _luminance(tint)), reverse=True)
        ratio = (light + 0.05) / (dark + 0.05)
        assert ratio >= 4.5, f"{tone}: {text} on {tint} is {ratio:.2f}:1"


def test_codes_read_as_words() -> None:
    from reportc.formatting import code_tone, humanise

    assert humanise("at_risk") == "At risk"
    assert humanise("IN_PROGRESS") == "In progress"
    assert humanise("ok") == "OK"
    assert humanise("Profit and loss") == "Profit and loss"
    assert humanise("v2_beta1") == "v2_beta1"  # not a code: left as it is
    assert (code_tone("at_risk"), code_tone("Needs work"), code_tone("zzz")) == (
        "critical",
        "warn",
        "neutral",
    )


def test_a_css_string_cannot_end_the_string_or_the_style() -> None:
    from reportc.render import css_string

    hostile = 'x"; } /* </style><script>\n\\'
    assert str(css_string(hostile)) == (
        "x\\22 ; \\7d  /\\2a  \\3c /style\\3e \\3c script\\3e \\a \\5c "
    )
    assert str(css_string("Confidential")) == "Confidential"
