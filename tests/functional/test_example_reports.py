"""The example project: five PDFs whose figures match an independent computation."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

import reportc
from tests.conftest import REPO, pdf_pages, pdf_reader, pdf_text

PERSONAS = ["ceo", "cto", "cfo", "cmo", "accounting"]


def _ledger_by_month() -> dict[str, dict[str, Decimal]]:
    types = {}
    with (REPO / "data/chart_of_accounts.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            types[row["account_code"]] = row["account_type"]
    months: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    with (REPO / "data/ledger.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            months[row["date"][:7]][types[row["account_code"]]] += Decimal(row["amount"])
    return months


def _money(value: Decimal | float) -> str:
    return f"${Decimal(value).quantize(Decimal('1')):,}"


def test_builds_five_reports(example_build: reportc.BuildResult) -> None:
    assert example_build.ok, [r.error for r in example_build.reports]
    assert [r.name for r in example_build.reports] == PERSONAS
    for name in PERSONAS:
        pdf = example_build.out_dir / f"{name}.pdf"
        html = example_build.out_dir / f"{name}.html"
        assert pdf.read_bytes().startswith(b"%PDF-")
        assert html.read_text("utf-8").startswith("<!DOCTYPE html>")
        assert pdf_pages(pdf) >= 2


def test_manifest_records_files_and_sources(example_build: reportc.BuildResult) -> None:
    import hashlib

    manifest = json.loads((example_build.out_dir / "manifest.json").read_text("utf-8"))
    assert manifest["period"] == "2026-10"
    assert set(manifest["reports"]) == set(PERSONAS)
    cfo = manifest["reports"]["cfo"]
    pdf = example_build.out_dir / "cfo.pdf"
    assert cfo["status"] == "ok"
    assert cfo["files"]["pdf"]["sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert cfo["files"]["pdf"]["bytes"] == pdf.stat().st_size
    assert cfo["files"]["pdf"]["pages"] == pdf_pages(pdf)
    assert {"ledger", "accounts", "balances", "transactions", "monthly"} <= set(cfo["sources"])
    ledger_sha = cfo["sources"]["ledger"]
    assert len(ledger_sha) == 64
    assert "reportc_version" in manifest


def test_cfo_figures_match_the_ledger(example_build: reportc.BuildResult) -> None:
    text = pdf_text(example_build.out_dir / "cfo.pdf")
    months = _ledger_by_month()
    last3 = ["2026-08", "2026-09", "2026-10"]
    burns = [months[m]["cogs"] + months[m]["opex"] - months[m]["revenue"] for m in last3]
    burn = sum(burns) / 3
    with (REPO / "data/bank_balances.csv").open(encoding="utf-8") as fh:
        cash = sum(Decimal(r["balance"]) for r in csv.DictReader(fh) if r["date"] == "2026-10-31")
    runway = cash / Decimal(str(burn))
    october = months["2026-10"]
    capex = sum(months[m]["capex"] for m in months if m.startswith("2026"))
    assert "CFO Report" in text
    assert "October 2026" in text
    assert _money(burn) in text  # net burn
    assert _money(cash) in text  # cash on hand
    assert f"{runway:.1f} months" in text
    assert _money(october["revenue"]) in text
    assert _money(capex) in text
    margin = (october["revenue"] - october["cogs"]) / october["revenue"]
    assert f"{margin * 100:.1f}%" in text
    # every month of the burn table, revenue and net burn
    for m in sorted(months):
        label = dt.date.fromisoformat(m + "-01").strftime("%b %Y")
        net = months[m]["cogs"] + months[m]["opex"] - months[m]["revenue"]
        assert f"{label} {_money(months[m]['revenue'])}" in text
        assert _money(net) in text


@pytest.mark.slow
def test_ceo_digest_counts_match_the_data(example_build: reportc.BuildResult) -> None:
    text = pdf_text(example_build.out_dir / "ceo.pdf")
    findings = yaml.safe_load((REPO / "data/findings.yaml").read_text("utf-8"))["findings"]
    critical = sum(1 for f in findings if f["area"] == "shortfall" and f["severity"] == "critical")
    security = sum(1 for f in findings if f["area"] == "security")
    with (REPO / "data/kpis.csv").open(encoding="utf-8") as fh:
        missing = sum(1 for r in csv.DictReader(fh) if not r["actual"])
    stack = yaml.safe_load((REPO / "data/tech_stack.yaml").read_text("utf-8"))["services"]
    savings = sum(
        Decimal(str(s["monthly_cost"])) - Decimal(str(s["right_sized_cost"])) for s in stack
    )
    assert f"{critical}\nCritical business shortfalls" in text
    assert f"{security}\nSecurity vulnerabilities" in text
    assert f"{missing}\nKPIs with no measurement" in text
    # shown whole, as the digest's other amounts are (one choice of decimals per section)
    whole = Decimal(savings).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert f"${whole:,} per month" in text
    for entity in ("JADA", "QueenofSanDiego", "QuickDumpNow", "DangerousCentaur"):
        assert entity in text
    with (REPO / "data/assets.csv").open(encoding="utf-8") as fh:
        assets = list(csv.DictReader(fh))
    total = sum(Decimal(a["monthly_cost"]) for a in assets)
    assert f"Total {len(assets)}" in text
    assert f"${total:,.2f}" in text


def _outline_titles(items: list[Any]) -> list[str]:
    out: list[str] = []
    for item in items:
        out.extend(_outline_titles(item) if isinstance(item, list) else [item.title])
    return out


def test_each_report_has_its_sections_as_bookmarks(example_build: reportc.BuildResult) -> None:
    expected = {
        "cto": [
            "Stack-by-stack technical audit",
            "Security findings",
            "Infrastructure cost by service",
            "UX gaps",
            "Development-cycle deficiencies",
        ],
        "cmo": [
            "Channel-by-channel visibility",
            "Campaign modelling",
            "OTA sequencing",
            "Milestone timeline",
        ],
        "accounting": [
            "Revenue-recognition issues",
            "Chart of accounts",
            "Expense categorisation",
            "Profitability by entity",
        ],
    }
    for name, titles in expected.items():
        reader = pdf_reader(example_build.out_dir / f"{name}.pdf")
        flat = _outline_titles(reader.outline)
        for title in titles:
            assert title in flat, (name, title, flat)


def test_pdf_metadata(example_build: reportc.BuildResult) -> None:
    meta = pdf_reader(example_build.out_dir / "cmo.pdf").metadata
    assert meta is not None
    assert meta.title == "CMO Report — October 2026"
    assert meta.author == "JADA Group"
    assert str(meta["/CreationDate"]).startswith("D:20261031")


def test_running_header_and_page_numbers(example_build: reportc.BuildResult) -> None:
    reader = pdf_reader(example_build.out_dir / "cto.pdf")
    pages = len(reader.pages)
    last = reader.pages[-1].extract_text()
    assert f"Page {pages} of {pages}" in last
    assert "JADA Group · CTO Report · October 2026" in reader.pages[1].extract_text()


def test_no_temporary_files_left(example_build: reportc.BuildResult) -> None:
    leftovers = [p.name for p in Path(example_build.out_dir).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_the_example_signs_encrypts_and_writes_a_workbook(
    example_build: reportc.BuildResult,
) -> None:
    """The accounting report is signed (an intact PAdES signature by the demo key, which
    no one trusts), the CMO report opens only with its password from repos.env, and the
    CFO report has its workbook."""
    import io

    import pikepdf
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from tests.conftest import EXAMPLE_ENV

    out = example_build.out_dir
    with (out / "accounting.pdf").open("rb") as fh:
        signature = PdfFileReader(fh).embedded_signatures[0]
        status = validate_pdf_signature(signature, ValidationContext(trust_roots=[]))
        assert status.intact and status.valid and not status.trusted
        assert signature.sig_object["/Reason"] == "Reviewed and approved by the Accounting Officer"
    data = (out / "cmo.pdf").read_bytes()
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(data))
    with pikepdf.open(io.BytesIO(data), password=EXAMPLE_ENV["CMO_PDF_PASSWORD"]) as doc:
        assert len(doc.pages) == pdf_pages(out / "cmo.pdf")
    assert (out / "cfo.xlsx").read_bytes().startswith(b"PK")
