"""Charts, page design, formats by locale, thresholds, and reproducible/archival PDFs."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

import reportc
from reportc import build, load_project
from reportc.charts import compile_chart, render_svg
from reportc.cli import main
from reportc.formatting import Formatter
from tests.conftest import FIXED_NOW, MINIMAL_YAML, REPO, MakeProject, pdf_reader, pdf_text

CHART_YAML = MINIMAL_YAML.replace(
    "sections:\n",
    """sections:
  sales_chart:
    type: chart
    title: Sales by region
    source: sales
    kind: bar
    x: {field: region, title: Region}
    y: {field: amount, title: Amount sold, format: currency}
    rules:
      - {y: 1000, label: Target, style: neutral}
    thresholds:
      - {below: 1000, style: critical, label: below target}
      - {above: 999.99, style: good, label: on target}
""",
).replace("sections: [summary, sales_table]", "sections: [summary, sales_chart, sales_table]")


@pytest.mark.slow
def test_example_charts_are_vector_and_searchable(example_build: reportc.BuildResult) -> None:
    cfo = pdf_text(example_build.out_dir / "cfo.pdf")
    for label in (
        "Net burn per month",
        "Runway (months)",
        "Projected revenue",
        "Projected expenses",
        "Break-even",
        "Oct 2026",
        "Jan 2027",
    ):
        assert label in cfo, label
    ceo = pdf_text(example_build.out_dir / "ceo.pdf")
    assert "Share of target" in ceo and "on or above target" in ceo
    assert "Current cost per month" in pdf_text(example_build.out_dir / "cto.pdf")
    assert "Revenue per month" in pdf_text(example_build.out_dir / "cmo.pdf")
    html = (example_build.out_dir / "cfo.html").read_text()
    assert html.count("data:image/svg+xml;base64,") == 3  # logo + two charts


@pytest.mark.slow
def test_chart_threshold_colours_follow_the_data(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": CHART_YAML})
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 0, result.output
    text = pdf_text(root / "dist/ceo.pdf")
    assert "Amount sold" in text and "Target" in text
    assert "below target" in text and "on target" in text  # the legend says it in words
    html = (root / "dist/ceo.html").read_text()
    assert '<span class="key critical">' in html and '<span class="key good">' in html
    project = load_project(root, environ={})
    rows = [{"region": "North", "amount": 1700}, {"region": "South", "amount": 800}]
    options = dict(project.sections["sales_chart"].options)
    svg = render_svg(compile_chart(options, rows, {}, Formatter()), Formatter())
    assert svg.count('fill="#b42318"') == 1  # South, below the target
    assert svg.count('fill="#1b7f3b"') == 1  # North


@pytest.mark.slow
def test_full_vega_lite_spec_gets_the_rows(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "sections:\n",
        "sections:\n  custom:\n    type: chart\n    title: Custom\n    source: sales\n"
        "    vega_lite:\n      mark: point\n      encoding:\n"
        "        x: {field: region, type: nominal, title: Where}\n"
        "        y: {field: amount, type: quantitative, title: How much}\n",
    ).replace("sections: [summary, sales_table]", "sections: [custom]")
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 0, result.output
    assert "How much" in pdf_text(root / "dist/ceo.pdf")


def test_chart_errors_name_the_section(make_project: MakeProject) -> None:
    root = make_project(
        {
            "reports.yaml": CHART_YAML.replace(
                "y: {field: amount, title: Amount sold", "y: {field: amont, title: Amount sold"
            )
        }
    )
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 4
    assert (
        "report 'ceo', section 'sales_chart': chart: no column 'amont'; columns are: region, amount"
    ) in result.output
    bad = CHART_YAML.replace("    kind: bar\n", "    kind: combo\n")
    result = CliRunner().invoke(main, ["-C", str(make_project({"reports.yaml": bad})), "validate"])
    assert result.exit_code == 3
    assert "a combo chart needs 'line'" in result.output


def _bookmarks(reader: PdfReader, items: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        if isinstance(item, list):
            out.update(_bookmarks(reader, item))
        else:
            out.setdefault(item.title, (reader.get_destination_page_number(item) or 0) + 1)
    return out


@pytest.mark.slow
def test_contents_page_numbers_match_the_real_pages(example_build: reportc.BuildResult) -> None:
    for name in ("ceo", "cto", "cfo", "cmo", "accounting"):
        reader = pdf_reader(example_build.out_dir / f"{name}.pdf")
        pages = [p.extract_text() or "" for p in reader.pages]
        contents = next(i for i, t in enumerate(pages) if t.startswith("Contents\n"))
        entries = re.findall(r"^(.+?) ?\.{3,} ?(\d+)$", pages[contents], re.M)
        real = _bookmarks(reader, reader.outline)  # where each heading really is
        assert len(entries) >= 4
        for title, number in entries:
            assert real[title] == int(number), (name, title, number, real[title])
            assert title in pages[real[title] - 1]


def test_cover_page(example_build: reportc.BuildResult) -> None:
    reader = pdf_reader(example_build.out_dir / "cfo.pdf")
    cover = reader.pages[0].extract_text()
    for text in (
        "JADA GROUP",
        "CFO Report",
        "October 2026",
        "Prepared for",
        "Chief Financial Officer",
        "Generated",
        "Nov 30, 2026",
    ):
        assert text in cover, text
    assert "Page 1 of" not in cover
    assert f"Page 2 of {len(reader.pages)}" in reader.pages[1].extract_text()


def test_bundled_fonts_and_logo_are_embedded(example_build: reportc.BuildResult) -> None:
    reader = pdf_reader(example_build.out_dir / "cmo.pdf")
    fonts = set()
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for font in (resources.get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Inter" in f for f in fonts), fonts
    assert "data:image/svg+xml;base64," in (example_build.out_dir / "cmo.html").read_text()


def test_kpi_deltas_and_threshold_labels(example_build: reportc.BuildResult) -> None:
    types = {}
    with (REPO / "data/chart_of_accounts.csv").open() as fh:
        types = {r["account_code"]: r["account_type"] for r in csv.DictReader(fh)}
    revenue: dict[str, Decimal] = {}
    with (REPO / "data/ledger.csv").open() as fh:
        for r in csv.DictReader(fh):
            if types[r["account_code"]] == "revenue":
                revenue[r["date"][:7]] = revenue.get(r["date"][:7], Decimal(0)) + Decimal(
                    r["amount"]
                )
    change = (revenue["2026-10"] - revenue["2026-09"]) / revenue["2026-09"] * 100
    text = pdf_text(example_build.out_dir / "cfo.pdf")
    assert f"▲ {change:.1f}% vs Sep 2026" in text  # against the period before, by name
    assert "12 MONTHS OR MORE" in text  # runway's threshold label (badges are upper case)


@pytest.mark.slow
def test_formats_follow_the_report_locale(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "    title: CEO Report\n", "    title: CEO Report\n    locale: de_DE\n    currency: EUR\n"
    )
    root = make_project(
        {"reports.yaml": text, "data/sales.csv": "region,amount\nNorth,1234.5\nSouth,1000\n"}
    )
    assert CliRunner().invoke(main, ["-C", str(root), "build"]).exit_code == 0
    pdf = pdf_text(root / "dist/ceo.pdf")
    assert "Sales were 2.235\xa0€ from 2 orders." in pdf  # half-up: 2.234,5 -> 2.235
    assert "31.10.2026" in pdf  # the period's end date, German style


def _build_twice(root: Path, environ: dict[str, str], **kwargs: Any) -> tuple[bytes, bytes]:
    project = load_project(root, environ=environ)
    first = build(project, out_dir=root / "one", **kwargs)
    second = build(load_project(root, environ=environ), out_dir=root / "two", **kwargs)
    assert first.ok and second.ok
    return (root / "one/ceo.pdf").read_bytes(), (root / "two/ceo.pdf").read_bytes()


def test_rebuilds_are_byte_identical(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": CHART_YAML})
    one, two = _build_twice(root, {}, clock=lambda: FIXED_NOW)
    assert one == two


@pytest.mark.slow
def test_source_date_epoch_fixes_the_generated_date(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": CHART_YAML})
    epoch = int(dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc).timestamp())
    one, two = _build_twice(root, {"SOURCE_DATE_EPOCH": str(epoch)})
    assert one == two
    assert "Nov 2, 2026" in pdf_text(root / "one/ceo.pdf")


def test_pdfa_variant_embeds_the_data(example_build: reportc.BuildResult) -> None:
    reader = pdf_reader(example_build.out_dir / "cfo.pdf")
    xmp = reader.xmp_metadata
    assert xmp is not None
    assert (xmp.pdfaid_part, xmp.pdfaid_conformance) == ("3", "B")
    attachments = reader.attachments
    assert {"metrics.json", "burn_rate.csv", "revenue_projection.csv"} <= set(attachments)
    metrics = json.loads(attachments["metrics.json"][0])
    text = pdf_text(example_build.out_dir / "cfo.pdf")
    cash = Decimal(str(metrics["cash_on_hand"]["value"]))
    assert f"${cash.quantize(Decimal('1')):,}" in text
    rows = list(csv.DictReader(attachments["burn_rate.csv"][0].decode().splitlines()))
    assert rows[0]["month"] == "2026-01-01"
    # reports without the option stay plain PDFs
    assert pdf_reader(example_build.out_dir / "cto.pdf").attachments == {}


@pytest.mark.slow
def test_tagged_pdf_for_accessibility(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace('period: "2026-10"\n', 'period: "2026-10"\npdf: {tagged: true}\n')
    root = make_project({"reports.yaml": text})
    assert CliRunner().invoke(main, ["-C", str(root), "build", "--format", "pdf"]).exit_code == 0
    catalog: Any = PdfReader(str(root / "dist/ceo.pdf")).trailer["/Root"]
    assert "/StructTreeRoot" in catalog
    assert bool(catalog["/MarkInfo"]["/Marked"])
    assert catalog["/Lang"] == "en-US"


def test_table_threshold_classes_where_the_data_crosses_them(
    example_build: reportc.BuildResult,
) -> None:
    html = (example_build.out_dir / "cto.html").read_text()
    # the rating codes read as words, in chips of their own tone, on the highlighted cells
    assert html.count('class="left critical"><span class="chip critical">Critical</span>') == 2
    assert html.count('class="left warn"><span class="chip warn">Needs work</span>') == 5
    assert "needs_work" not in html
    cfo = (example_build.out_dir / "cfo.html").read_text()
    # projection: the one negative month is 'warn'; the eleven that break even are
    # coloured, and only the first of that run carries the text label
    assert cfo.count('<span class="flag">break-even</span>') == 1
    assert cfo.count('class="right good">') >= 11


@pytest.mark.slow
def test_paper_size_and_orientation_per_report(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "    title: CEO Report\n",
        "    title: CEO Report\n    theme: {paper: A4, orientation: landscape, cover: false}\n",
    )
    root = make_project({"reports.yaml": text})
    assert CliRunner().invoke(main, ["-C", str(root), "build", "--format", "pdf"]).exit_code == 0
    page = PdfReader(str(root / "dist/ceo.pdf")).pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert (round(width), round(height)) == (842, 595)  # A4 landscape, in points
    assert "Page 1 of" in (page.extract_text() or "")  # no cover: the title block is page 1


@pytest.mark.slow
def test_rebuilds_are_byte_identical_without_harfbuzz_subsetting(
    make_project: MakeProject,
) -> None:
    """Where libharfbuzz-subset0 is missing, WeasyPrint subsets fonts with fontTools,
    which dates each subset font 'now'; reportc dates them by the period instead, and
    says once per build that the fast path is missing. (The missing library is
    simulated in a subprocess: it is installed on this machine.)"""
    import subprocess
    import sys
    import time

    root = make_project({"reports.yaml": CHART_YAML})
    code = (
        "import sys, weasyprint.pdf.fonts as fonts, reportc.pdf as pdf; "
        "fonts.harfbuzz_subset = None; pdf.harfbuzz_subset_missing = lambda: True; "
        "from reportc.cli import run; run()"
    )
    outputs = []
    for out in ("one", "two"):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                "-C",
                str(root),
                "build",
                "--jobs",
                "1",
                "--force",
                "--out",
                str(root / out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stderr)
        time.sleep(1.1)  # a later second: fontTools' 'now' would differ
    assert (root / "one/ceo.pdf").read_bytes() == (root / "two/ceo.pdf").read_bytes()
    assert outputs[0].count("HarfBuzz font subsetting (libharfbuzz-subset0) is not installed") == 1
    assert "apt-get install libharfbuzz-subset0" in outputs[0]
