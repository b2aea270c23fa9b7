"""Number, currency, percent, compact and date formatting by locale (Babel).

One :class:`Formatter` per report (its locale and currency) supplies the Jinja
filters used by every section template and by the email summary, so a figure
looks the same everywhere. ``None`` renders as an em dash: a missing value is
shown as missing, never as zero.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

MISSING = "—"
#: the colour of each tone (good/warn/critical/neutral): charts, sparklines, CSS, email
TONE_COLOURS = {
    "good": "#1b7f3b",
    "warn": "#b7791f",
    "critical": "#b42318",
    "neutral": "#5b6675",
}

#: Text and background colour of each tone's badge or chip (text on tint, WCAG AA: at
#: least 4.5:1, checked by tests/unit/test_formatting.py). Severities each have their own.
CHIP_COLOURS = {
    "critical": ("#b42318", "#fde8e7"),
    "high": ("#9c3a12", "#fdeadf"),
    "medium": ("#7a5200", "#fff4d6"),
    "low": ("#1d4f91", "#e6effa"),
    "good": ("#1b6b35", "#e7f4ec"),
    "warn": ("#7a5200", "#fff4d6"),
    "neutral": ("#4a5563", "#eef1f5"),
}

#: Status and severity codes, by the tone their chip takes (anything else: neutral).
CODE_TONES = {
    **dict.fromkeys(
        ("critical", "at_risk", "absent", "blocked", "overdue", "failed", "off_track", "expired"),
        "critical",
    ),
    "high": "high",
    "medium": "medium",
    "low": "low",
    **dict.fromkeys(
        ("warn", "needs_work", "partial", "in_progress", "pending", "delayed", "at_capacity"),
        "warn",
    ),
    **dict.fromkeys(
        ("good", "ok", "done", "complete", "completed", "active", "live", "on_track"), "good"
    ),
}

_CODE = re.compile(r"[a-z]+(?:_[a-z]+)+|[A-Z]+(?:_[A-Z]+)+|[a-z]+|[A-Z]+")
#: column names whose values are statuses (humanised and shown as chips)
STATUS_COLUMN = re.compile(
    r"(^|_)(status|state|stage|priority|severity|health|risk|rating)(_|$)", re.I
)


def humanise(code: str) -> str:
    """'at_risk' and 'IN_PROGRESS' -> 'At risk', 'In progress'; other text unchanged."""
    if not _CODE.fullmatch(code):
        return code
    if code.lower() == "ok":
        return "OK"
    words = code.replace("_", " ").lower()
    return words[:1].upper() + words[1:]


def code_tone(value: object) -> str:
    """The chip tone of a status or severity code ('neutral' when unknown)."""
    return CODE_TONES.get(str(value).strip().lower().replace(" ", "_"), "neutral")


FORMATS = ("text", "number", "integer", "currency", "percent", "date", "month", "compact")


def as_date(value: Any) -> dt.date | None:
    """A date from a date, a datetime or an ISO string (its first ten characters)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _num(value: Any) -> Decimal | float | int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return value
    try:
        return Decimal(str(value).replace(",", ""))
    except Exception:
        return None


def _with_decimals(pattern: str, decimals: int) -> str:
    """The locale's pattern (symbol placement, spacing) with exactly ``decimals`` digits."""
    positive = pattern.split(";")[0]
    positive = re.sub(
        r"0(?:\.0+)?(?=[^0-9#,.]*$)", "0." + "0" * decimals if decimals else "0", positive, count=1
    )
    return positive


@dataclass(frozen=True)
class Formatter:
    locale: str = "en_US"
    currency: str = "USD"

    def number(self, value: Any, decimals: int | None = None) -> str:
        n = _num(value)
        if n is None:
            return MISSING if value is None else str(value)
        if decimals is None:
            decimals = 0 if float(n).is_integer() else (1 if abs(float(n)) >= 10 else 2)
        fmt = "#,##0" + ("." + "0" * decimals if decimals else "")
        return babel_numbers.format_decimal(
            n, format=fmt, locale=self.locale, decimal_quantization=True
        )

    def integer(self, value: Any, decimals: int | None = None) -> str:
        return self.number(value, 0)

    def currency_fmt(self, value: Any, decimals: int | None = None) -> str:
        n = _num(value)
        if n is None:
            return MISSING if value is None else str(value)
        if decimals is None:
            decimals = 0 if abs(float(n)) >= 1000 or float(n).is_integer() else 2
        base = _with_decimals(
            Locale.parse(self.locale).currency_formats["standard"].pattern, decimals
        )
        return babel_numbers.format_currency(
            n,
            self.currency,
            format=base,
            locale=self.locale,
            currency_digits=False,
            decimal_quantization=True,
        )

    def percent(self, value: Any, decimals: int | None = None) -> str:
        n = _num(value)
        if n is None:
            return MISSING if value is None else str(value)
        pattern = Locale.parse(self.locale).percent_formats[None].pattern
        fmt = _with_decimals(pattern, 0 if decimals is None else decimals)
        return babel_numbers.format_percent(
            n, format=fmt, locale=self.locale, decimal_quantization=True
        )

    def compact(self, value: Any, decimals: int | None = None) -> str:
        n = _num(value)
        if n is None:
            return MISSING if value is None else str(value)
        return babel_numbers.format_compact_decimal(
            n,
            format_type="short",
            locale=self.locale,
            fraction_digits=1 if decimals is None else decimals,
        )

    def _dated(self, value: Any, pattern: str) -> str:
        if value is None:
            return MISSING
        day = as_date(value)
        if day is None:
            return str(value)
        return str(babel_dates.format_date(day, format=pattern, locale=self.locale))

    def date(self, value: Any, decimals: int | None = None) -> str:
        return self._dated(value, "medium")

    def month(self, value: Any, decimals: int | None = None) -> str:
        return self._dated(value, "MMM y")

    def text(self, value: Any, decimals: int | None = None) -> str:
        return MISSING if value is None else str(value)

    def format(self, value: Any, kind: str | None = None, decimals: int | None = None) -> str:
        """Format by kind name; no kind: numbers as numbers, dates as dates.

        Rounding is half-up (2,234.5 -> 2,235), as readers of financial reports expect,
        not Python's default half-even.
        """
        if kind is None:
            if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
                kind = "number"
            elif isinstance(value, dt.date):
                kind = "date"
            else:
                kind = "text"
        return self.filters()[kind](value, decimals)

    def filters(self) -> Mapping[str, Callable[..., str]]:
        return {
            "text": self.text,
            "number": _half_up(self.number),
            "integer": _half_up(self.integer),
            "currency": _half_up(self.currency_fmt),
            "percent": _half_up(self.percent),
            "compact": _half_up(self.compact),
            "date": self.date,
            "month": self.month,
        }


def _half_up(method: Callable[..., str]) -> Callable[..., str]:
    def wrapped(value: Any, decimals: int | None = None) -> str:
        with decimal.localcontext() as ctx:
            ctx.rounding = decimal.ROUND_HALF_UP
            return method(value, decimals)

    return wrapped
