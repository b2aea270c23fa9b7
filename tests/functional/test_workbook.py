"""Excel workbooks (``--format xlsx``), read back with openpyxl: typed cells whose every
figure is the one the PDF shows, formulas for totals, a cover with the source
fingerprints, a workbook attached to the email, and hostile cells kept as text."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest

import reportc
from reportc.config import load_project
from reportc.formatting import Formatter
from reportc.workbook import excel_date, sheet_name
from tests.conftest import FIXED_NOW, MakeProject, pdf_text


def _shown(cell: Any, fmt: Formatter) -> str | None:
    """The text the PDF shows for a typed cell, from its value and number format alone."""
    value, number_format = cell.value, cell.number_format
    if isinstance(value, dt.datetime):
        return fmt.month(value) if number_format == "mmm yyyy" else fmt.date(value)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    decimals = len(m.group(1)) if (m := re.search(r"0\.(0+)", number_format)) else 0
    kind = "percent" if "%" in number_format else "number"
    return fmt.format(value, "currency" if '"$"' in number_format else kind, decimals)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> reportc.BuildResult:
    from tests.conftest import copy_example

    root = copy_example(tmp_path_factory.mktemp("xlsx"))
    project = load_project(root, environ={})
    return reportc.build(project, formats=("xlsx",), clock=lambda: FIXED_NOW)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ceo", "cto", "cfo", "cmo", "accounting"])
def test_every_figure_in_the_workbook_is_in_the_pdf(
    built: reportc.BuildResult, example_build: reportc.BuildResult, name: str
) -> None:
    assert built.ok, [r.error for r in built.reports]
    text = _squash(pdf_text(example_build.out_dir / f"{name}.pdf"))
    book = openpyxl.load_workbook(built.out_dir / f"{name}.xlsx")
    fmt = Formatter()
    checked = 0
    for ws in book.worksheets[1:]:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    continue  # a totals formula: checked below against its cached value
                shown = _shown(cell, fmt)
                if shown is not None:
                    assert _squash(shown) in text, f"{ws.title}!{cell.coordinate}: {shown}"
                    checked += 1
    assert checked > 10


def test_cells_are_typed_and_totals_are_formulas(
    built: reportc.BuildResult, example_build: reportc.BuildResult
) -> None:
    path = built.out_dir / "cfo.xlsx"
    formulas = openpyxl.load_workbook(path)["Monthly burn rate"]
    values = openpyxl.load_workbook(path, data_only=True)["Monthly burn rate"]
    assert [c.value for c in formulas[1]] == [
        "Month", "Revenue", "Operating expenses", "Net burn", "Capital spend"
    ]  # fmt: skip
    assert (
        isinstance(formulas["A2"].value, dt.datetime) and formulas["A2"].number_format == "mmm yyyy"
    )
    assert isinstance(formulas["B2"].value, float) and formulas["B2"].number_format == '"$"#,##0'
    last = formulas.max_row
    assert formulas[f"A{last}"].value == "Total"
    assert formulas[f"B{last}"].value == f"=SUM(B2:B{last - 1})"
    column = [values[f"B{r}"].value for r in range(2, last)]
    assert values[f"B{last}"].value == pytest.approx(sum(column))
    text = _squash(pdf_text(example_build.out_dir / "cfo.pdf"))
    assert _squash(Formatter().format(values[f"B{last}"].value, "currency", 0)) in text
    acct = openpyxl.load_workbook(built.out_dir / "accounting.xlsx")["Expense categorisation"]
    assert acct["E2"].number_format == "0.0%" and 0 < acct["E2"].value < 1


def test_the_cover_names_the_period_and_the_source_fingerprints(
    built: reportc.BuildResult,
) -> None:
    cover = openpyxl.load_workbook(built.out_dir / "cfo.xlsx")["Cover"]
    cells = {str(r[0].value): r[1].value for r in cover.iter_rows(min_row=2) if r[0].value}
    assert cover["A1"].value == "CFO Report — October 2026"
    assert cells["Period"] == "October 2026"
    assert cells["Period start"] == dt.datetime(2026, 10, 1)
    manifest = json.loads((built.out_dir / "manifest.json").read_text())["reports"]["cfo"]
    for source, digest in manifest["sources"].items():
        assert cells[source] == digest
    xlsx = manifest["files"]["xlsx"]
    data = (built.out_dir / "cfo.xlsx").read_bytes()
    assert xlsx == {
        "path": "cfo.xlsx",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }


@pytest.mark.slow
def test_a_rebuild_gives_the_same_bytes(built: reportc.BuildResult, tmp_path: Path) -> None:
    from tests.conftest import copy_example

    root = copy_example(tmp_path)
    again = reportc.build(
        load_project(root, environ={}), formats=("xlsx",), clock=lambda: FIXED_NOW
    )
    for name in ("cfo", "ceo"):
        assert (again.out_dir / f"{name}.xlsx").read_bytes() == (
            built.out_dir / f"{name}.xlsx"
        ).read_bytes()


HOSTILE = (
    "region,amount,note\n"
    + "\n".join(
        [
            'North,1200,"=HYPERLINK(""http://evil.example.com"",""x"")"',
            "South,1e15,+cmd|' /C calc'!A0",
            'East,-800,"@SUM(1+1)"',
            "West,0.5,plain",
        ]
    )
    + "\n"
)


def test_hostile_cells_stay_text_and_odd_numbers_do_not_break_it(
    make_project: MakeProject,
) -> None:
    from tests.conftest import MINIMAL_YAML

    yaml_text = MINIMAL_YAML.replace(
        "      - {field: amount, label: Amount, format: currency, total: sum}",
        "      - {field: amount, label: Amount, format: number, total: sum}\n"
        "      - {field: note, label: Note}",
    ).replace(
        "  sales:\n    type: csv\n    path: data/sales.csv",
        "  sales:\n    type: csv\n    path: data/sales.csv\n    types: {amount: DOUBLE}",
    )
    yaml_text = yaml_text.replace(
        "    title: CEO Report\n    sections: [summary, sales_table]\n",
        "    title: CEO Report\n    formats: [pdf, xlsx]\n    sections: [sales_table]\n",
    )
    root = make_project({"reports.yaml": yaml_text, "data/sales.csv": HOSTILE})
    result = reportc.build(load_project(root, environ={}), clock=lambda: FIXED_NOW)
    assert result.ok, [r.error for r in result.reports]
    assert not (result.out_dir / "ceo.html").exists()  # formats: [pdf, xlsx]
    ws = openpyxl.load_workbook(result.out_dir / "ceo.xlsx")["Sales"]
    notes = [ws[f"C{r}"] for r in range(2, 6)]
    assert all(c.data_type == "s" for c in notes)
    assert notes[0].value.startswith("=HYPERLINK")
    assert ws["B3"].value == 1e15
    assert ws["B6"].value == "=SUM(B2:B5)"


@pytest.mark.slow
def test_a_workbook_attached_to_the_email(make_project: MakeProject, tmp_path: Path) -> None:
    from tests.conftest import MINIMAL_YAML

    yaml_text = MINIMAL_YAML.replace(
        "    recipients:\n      to: ceo@example.com",
        "    attachments: [{format: xlsx}]\n    recipients:\n      to: ceo@example.com",
    ).replace("delivery:\n", "delivery:\n  transport: outbox\n")
    root = make_project({"reports.yaml": yaml_text})
    project = load_project(root, environ={})
    build = reportc.build(project, formats=("pdf",), clock=lambda: FIXED_NOW)
    assert (build.out_dir / "ceo.xlsx").is_file()  # attached: always built
    result = reportc.send(project, clock=lambda: FIXED_NOW)
    assert result.ok, result
    outbox = sorted((root / "dist/outbox").rglob("*.eml"))
    message = email.message_from_bytes(outbox[0].read_bytes())
    parts = {p.get_filename(): p for p in message.walk() if p.get_filename()}
    name = "Example Org CEO Report October 2026.xlsx"
    assert name in parts, list(parts)
    data = parts[name].get_payload(decode=True)
    assert parts[name].get_content_type() == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert data == (build.out_dir / "ceo.xlsx").read_bytes()


def test_attachment_mistakes_are_positioned(make_project: MakeProject) -> None:
    from tests.conftest import MINIMAL_YAML

    yaml_text = MINIMAL_YAML.replace(
        "    recipients:\n      to: ceo@example.com",
        "    formats: [html, xlsx]\n"
        "    attachments: [{format: xlsx, section: sales_table}, {filename: x.csv}]\n"
        "    recipients:\n      to: ceo@example.com",
    )
    root = make_project({"reports.yaml": yaml_text})
    with pytest.raises(reportc.ConfigError) as caught:
        load_project(root, environ={})
    shown = [p.format() for p in caught.value.problems]
    assert any("personas.ceo.formats: a report that is sent needs its PDF" in s for s in shown), (
        shown
    )
    assert any("attachments[0].section: the workbook holds every" in s for s in shown), shown
    assert any("attachments[1]: a CSV attachment names the section" in s for s in shown), shown


def test_sheet_names_and_date_formats() -> None:
    taken: set[str] = set()
    assert sheet_name("Revenue: Q3 [draft] / final?", taken) == "Revenue  Q3  draft    final"[:31]
    assert sheet_name("A" * 40, taken) == "A" * 31
    assert sheet_name("A" * 40, taken) == "A" * 27 + " (2)"
    assert sheet_name("History", taken) == "History (report)"
    assert excel_date("MMM d, y") == "mmm d, yyyy"
    assert excel_date("d. MMMM y") == "d. mmmm yyyy"
    assert excel_date("dd/MM/y") == "dd/mm/yyyy"
