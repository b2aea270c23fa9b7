"""A report's Excel workbook (``--format xlsx``): a cover sheet, then one sheet per table,
KPI and findings section, written with XlsxWriter.

Each section type says what its sheet holds (:attr:`SectionType.sheet`, from the values
its template shows), so the workbook and the PDF show the same figures. Cells are typed:
numbers are numbers with an Excel number format made from the report's locale and
currency (the PDF's decimals), dates are dates, percentages are fractions shown as
percentages; text is always written as text (a cell reading ``=HYPERLINK(...)`` stays
that text, never a formula). Each sheet has a frozen header row, an autofilter and column
widths fitted to its contents; a totals row is ``=SUM(...)`` (or AVERAGE, COUNTA, MIN,
MAX) with the computed value cached. The cover carries the title, the period and the
fingerprint of every source file the report read. The file is reproducible: the same
inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import jinja2
import jinja2.sandbox
from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

from .bound import BoundReport
from .errors import Problem, RenderError
from .formatting import Formatter, as_date
from .section_types import behaviour
from .section_types.base import Sheet, SheetColumn, Typed

_FORMULA = {"sum": "SUM", "avg": "AVERAGE", "count": "COUNTA", "min": "MIN", "max": "MAX"}
_BAD_NAME = re.compile(r"[\[\]:*?/\\]")
#: a column no wider than this (in characters): longer text wraps
_MAX_WIDTH = 60


def excel_date(pattern: str) -> str:
    """An Excel date format from a CLDR pattern ('MMM d, y' -> 'mmm d, yyyy')."""
    result = []
    for token in re.finditer(r"'([^']*)'|([A-Za-z])\2*|(.)", pattern):
        quoted, run, other = token.group(1), token.group(0), token.group(3)
        if quoted is not None:
            result.append(f'"{quoted}"' if quoted else "'")
        elif other is not None:
            result.append(other)
        elif run[0] == "y":
            result.append("yy" if len(run) == 2 else "yyyy")
        elif run[0] in "ML":
            result.append("m" * min(len(run), 4))
        elif run[0] == "d":
            result.append("d" * min(len(run), 2))
        elif run[0] in "Ec":
            result.append("dddd" if len(run) >= 4 else "ddd")
        else:
            result.append(f'"{run}"')
    return "".join(result)


class NumberFormats:
    """Excel number formats that read as the report's Formatter writes (its locale's
    currency pattern and symbol, its decimals)."""

    def __init__(self, locale: str, currency: str) -> None:
        loc = Locale.parse(locale)
        self.currency_pattern = loc.currency_formats["standard"].pattern.split(";")[0]
        self.symbol = babel_numbers.get_currency_symbol(currency, locale=locale)
        medium = babel_dates.get_date_format("medium", locale=locale).pattern
        self.date = excel_date(medium)
        self.month = excel_date("MMM y")

    def of(self, kind: str, decimals: int | None, value: Any, unit: str = "") -> str:
        """The format of one number cell (None decimals: as the PDF chooses per value)."""
        number = float(value) if isinstance(value, (int, float, Decimal)) else 0.0
        if kind == "currency":
            if decimals is None:
                decimals = 0 if abs(number) >= 1000 or number.is_integer() else 2
            text = self._currency(decimals)
        elif kind == "percent":
            text = "0" + ("." + "0" * decimals if decimals else "") + "%"
        elif kind in ("date", "month"):
            return self.date if kind == "date" else self.month
        else:
            if kind == "integer":
                decimals = 0
            elif decimals is None:
                decimals = 0 if number.is_integer() else (1 if abs(number) >= 10 else 2)
            text = "#,##0" + ("." + "0" * decimals if decimals else "")
        if unit:
            text += f'"{unit}"' if len(unit) == 1 and not unit.isalnum() else f'" {unit}"'
        return text

    def _currency(self, decimals: int) -> str:
        number = "#,##0" + ("." + "0" * decimals if decimals else "")
        pattern = re.sub(r"[#,]*0(?:[.,]0+)?", lambda _: number, self.currency_pattern, count=1)
        return pattern.replace("¤", f'"{self.symbol}"').replace("\xa0", " ")


def sheet_name(title: str, taken: set[str]) -> str:
    """A valid, unique sheet name: no []:*?/\\, at most 31 characters, never 'History'."""
    name = _BAD_NAME.sub(" ", " ".join(title.split())).strip("' ")[:31].strip() or "Sheet"
    if name.lower() == "history":
        name = "History (report)"
    base, n = name, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)].rstrip() + suffix, n + 1
    taken.add(name.lower())
    return name


def _title(report: BoundReport, section_title: str) -> str:
    """A section title as the PDF shows it (its ``{{ metric }}`` filled in)."""
    if "{{" not in section_title and "{%" not in section_title:
        return section_title
    env = jinja2.sandbox.SandboxedEnvironment(autoescape=False)
    try:
        return env.from_string(section_title).render(dict(report.metrics)).strip()
    except jinja2.TemplateError:
        return section_title


def sheets(report: BoundReport) -> Iterator[tuple[str, Sheet]]:
    """(title, sheet) of each of the report's sections whose type makes a sheet."""
    fmt = Formatter(report.spec.locale, report.spec.currency)
    for section in report.sections:
        kind = behaviour(section.spec.type)
        if kind is None:
            continue
        made = kind.sheet(section, kind.prepare(section, report, fmt))
        if made is not None:
            yield _title(report, section.spec.title or section.spec.name), made


class _Writer:
    """One workbook being written: its formats, made once each."""

    def __init__(self, report: BoundReport, generated: dt.datetime) -> None:
        import xlsxwriter  # imported here: only a build that writes a workbook needs it

        self.report = report
        self.buffer = io.BytesIO()
        self.book = xlsxwriter.Workbook(
            self.buffer, {"in_memory": True, "strings_to_formulas": False}
        )
        created = generated.astimezone(dt.timezone.utc).replace(tzinfo=None)
        self.book.set_properties(
            {
                "title": f"{report.spec.title} — {report.period.title}",
                "company": report.legal_name or report.organisation,
                "created": created,
            }
        )
        self.numbers = NumberFormats(report.spec.locale, report.spec.currency)
        self.formatter = Formatter(report.spec.locale, report.spec.currency)
        self.formats: dict[tuple[str, bool], Any] = {}
        self.names: set[str] = set()

    def fmt(self, num_format: str = "", bold: bool = False) -> Any:
        key = (num_format, bold)
        if key not in self.formats:
            props: dict[str, Any] = {"valign": "top"}
            if num_format:
                props["num_format"] = num_format
            if bold:
                props["bold"] = True
            if num_format == "@wrap":
                props = {"valign": "top", "text_wrap": True}
            self.formats[key] = self.book.add_format(props)
        return self.formats[key]

    def cell(self, ws: Any, r: int, c: int, value: Any, col: SheetColumn) -> int:
        """Write one typed cell; its width in characters."""
        kind, decimals = col.kind, col.decimals
        if isinstance(value, Typed):
            value, kind, decimals = value.value, value.kind or "number", value.decimals
        if value is None:
            ws.write_blank(r, c, None)
            return 0
        if kind in ("date", "month") and as_date(value) is not None:
            day = as_date(value)
            assert day is not None
            when = dt.datetime.combine(day, dt.time())
            ws.write_datetime(r, c, when, self.fmt(self.numbers.of(kind, None, 0)))
            return 12
        number = _number(value)
        if number is not None and kind not in ("text", "typed"):
            num_format = self.numbers.of(kind, decimals, number, col.unit)
            ws.write_number(r, c, number, self.fmt(num_format))
            shown = self.formatter.format(value, "number" if kind == "compact" else kind, decimals)
            return len(shown) + len(col.unit) + 1
        text = str(value)
        ws.write_string(r, c, text)
        return len(text)

    def table(self, title: str, sheet: Sheet) -> None:
        ws = self.book.add_worksheet(sheet_name(title, self.names))
        header = self.fmt(bold=True)
        widths = [len(c.label) + 2 for c in sheet.columns]
        for c, col in enumerate(sheet.columns):
            ws.write_string(0, c, col.label, header)
        for r, row in enumerate(sheet.rows, start=1):
            for c, (value, col) in enumerate(zip(row, sheet.columns, strict=True)):
                widths[c] = max(widths[c], self.cell(ws, r, c, value, col) + 1)
        last = len(sheet.rows)
        if any(col.total for col in sheet.columns) and sheet.rows:
            self._totals(ws, sheet, last + 1)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, last, max(len(sheet.columns) - 1, 0))
        for c, width in enumerate(widths):
            wrap = width > _MAX_WIDTH
            ws.set_column(c, c, min(width, _MAX_WIDTH), self.fmt("@wrap") if wrap else None)

    def _totals(self, ws: Any, sheet: Sheet, r: int) -> None:
        bold = self.fmt(bold=True)
        for c, col in enumerate(sheet.columns):
            if not col.total:
                if c == 0:
                    ws.write_string(r, c, sheet.totals_label, bold)
                continue
            cells = [row[c] for row in sheet.rows]
            span = f"{_cell(1, c)}:{_cell(r - 1, c)}"
            value = aggregate(col.total, cells)
            kind = "integer" if col.total == "count" else col.kind
            num = self.numbers.of(kind, col.decimals, value or 0, col.unit)
            ws.write_formula(r, c, f"={_FORMULA[col.total]}({span})", self.fmt(num, True), value)

    def cover(self, fingerprints: Sequence[tuple[str, str]], generated: dt.datetime) -> None:
        ws = self.book.add_worksheet(sheet_name("Cover", self.names))
        report, bold = self.report, self.fmt(bold=True)
        big = self.book.add_format({"bold": True, "font_size": 16})
        ws.write_string(0, 0, f"{report.spec.title} — {report.period.title}", big)
        facts = [
            ("Organisation", report.legal_name or report.organisation),
            ("Report", report.spec.name),
            ("Subtitle", report.spec.subtitle),
            ("Period", report.period.title),
        ]
        r = 2
        for label, value in facts:
            ws.write_string(r, 0, label, bold)
            ws.write_string(r, 1, value)
            r += 1
        dates = (("Period start", report.period.start), ("Period end", report.period.end))
        for label, day in dates:
            ws.write_string(r, 0, label, bold)
            when = dt.datetime.combine(day, dt.time())
            ws.write_datetime(r, 1, when, self.fmt(self.numbers.date))
            r += 1
        ws.write_string(r, 0, "Built", bold)
        ws.write_string(r, 1, generated.isoformat())
        r += 2
        ws.write_string(r, 0, "Source", bold)
        ws.write_string(r, 1, "SHA-256 of the data it was built from", bold)
        for name, digest in fingerprints:
            r += 1
            ws.write_string(r, 0, name)
            ws.write_string(r, 1, digest)
        ws.set_column(0, 0, 18)
        ws.set_column(1, 1, 70)

    def close(self) -> bytes:
        self.book.close()
        return self.buffer.getvalue()


def _cell(row: int, col: int) -> str:
    """An A1 reference from 0-based row and column ('B2' for 1, 1)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def _number(value: Any) -> float | None:
    """A finite float for a number cell; None for text, booleans and NaN/infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def aggregate(how: str, cells: Sequence[Any]) -> float | int | None:
    """What Excel computes for the totals formula over these cells (its cached value)."""
    values = [v.value if isinstance(v, Typed) else v for v in cells]
    if how == "count":
        return sum(1 for v in values if v is not None)
    numbers = [n for n in (_number(v) for v in values) if n is not None]
    if not numbers:
        return None
    if how == "sum":
        return float(sum(Decimal(str(n)) for n in numbers))
    if how == "avg":
        return sum(numbers) / len(numbers)
    return min(numbers) if how == "min" else max(numbers)


#: the rows an Excel sheet holds (less the header and the totals)
MAX_ROWS = 1_048_576 - 2


def workbook(report: BoundReport, generated: dt.datetime) -> bytes:
    """The report's workbook: a cover sheet, then a sheet per table, KPI and findings
    section, in the report's order. Raises :class:`RenderError` for a section too long
    for a sheet."""
    writer = _Writer(report, generated)
    writer.cover(sorted(report.sources_used.items()), generated)
    for title, sheet in sheets(report):
        if len(sheet.rows) > MAX_ROWS:
            raise RenderError(
                Problem(
                    f"report '{report.spec.name}': section '{title}' has {len(sheet.rows):,} "
                    f"rows; an Excel sheet holds at most {MAX_ROWS:,}",
                    report.spec.location,
                    hint="filter or aggregate the section's query, or drop xlsx from its formats",
                )
            )
        writer.table(title, sheet)
    return writer.close()
