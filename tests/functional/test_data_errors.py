"""Data problems are positioned where they are: the file's line and column, or the YAML key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc.cli import main
from tests.conftest import MINIMAL_CSV, MINIMAL_YAML, MakeProject, pdf_text
from tests.functional.test_scale import burst_project

TYPED = MINIMAL_YAML.replace(
    "    path: data/sales.csv\n",
    "    path: data/sales.csv\n    types:\n      amount: DECIMAL(12,2)\n",
)


def _validate(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    return result.exit_code, result.output


def test_a_value_that_does_not_convert_is_shown_at_its_line_and_column(
    make_project: MakeProject,
) -> None:
    csv = MINIMAL_CSV + "South,29O.00\n"
    code, out = _validate(make_project({"reports.yaml": TYPED, "data/sales.csv": csv}))
    assert code == 4, out
    assert "data/sales.csv:5:7: column 'amount': \"29O.00\" is not a DECIMAL(12,2)" in out
    assert "change sources.sales.types.amount" in out


@pytest.mark.slow
def test_an_undeclared_column_that_does_not_convert_is_positioned_too(
    make_project: MakeProject,
) -> None:
    rows = "".join(f"North,{n}\n" for n in range(1, 30_000)) + "South,29O.00\n"
    code, out = _validate(make_project({"data/sales.csv": "region,amount\n" + rows}))
    assert code == 4, out
    assert "data/sales.csv:30001:7: column 'amount': \"29O.00\" is not a" in out
    assert "declare the column's type in sources.sales.types" in out


def test_an_unknown_type_is_an_error_at_its_key(make_project: MakeProject) -> None:
    yaml = TYPED.replace("DECIMAL(12,2)", "DECIMALS(12,2)")
    code, out = _validate(make_project({"reports.yaml": yaml}))
    assert code == 4, out
    assert (
        "reports.yaml:14:15: sources.sales.types.amount: unknown type 'DECIMALS(12,2)' for "
        "column 'amount' (did you mean 'DECIMAL'?)"
    ) in out


def test_an_empty_file_says_so_before_any_check_of_its_types(make_project: MakeProject) -> None:
    yaml = TYPED.replace(
        "      amount: DECIMAL(12,2)\n", "      amount: DECIMAL(12,2)\n      qty: INTEGER\n"
    )
    code, out = _validate(make_project({"reports.yaml": yaml, "data/sales.csv": ""}))
    assert code == 4, out
    assert "data/sales.csv:1:1: the file is empty" in out
    assert "qty" not in out


@pytest.mark.slow
def test_a_header_only_file_shows_the_sections_empty_text(make_project: MakeProject) -> None:
    yaml = TYPED.replace(
        "      - {field: amount, label: Amount, format: currency, total: sum}\n",
        "      - {field: amount, label: Amount, format: currency}\n"
        "    empty: No sales were recorded this month.\n",
    )
    root = make_project({"reports.yaml": yaml, "data/sales.csv": "region,amount\n"})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "pdf"])
    assert result.exit_code == 0, result.output
    assert "No sales were recorded this month." in pdf_text(root / "dist/ceo.pdf")


def test_a_constant_metric_is_accepted(make_project: MakeProject) -> None:
    yaml = MINIMAL_YAML.replace(
        "  average_order:\n", "  budget:\n    expr: 20000\n    format: currency\n  average_order:\n"
    ).replace(
        "from {{ orders }} orders.", "from {{ orders }} orders, budget {{ budget | currency }}."
    )
    root = make_project({"reports.yaml": yaml})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 0, result.output
    assert "budget $20,000" in (root / "dist/ceo.html").read_text()


def test_validate_counts_burst_reports(make_project: MakeProject) -> None:
    code, out = _validate(burst_project(make_project))
    assert code == 0, out
    assert "valid — 0 reports (+5 burst)" in out


LABELLED = MINIMAL_YAML.replace(
    "      - {field: amount, label: Amount, format: currency, total: sum}\n",
    "      - {field: amount, label: Amount, format: currency, total: sum}\n"
    "    highlight:\n"
    "      - {column: amount, above: 450, style: warn, label: BIG}\n"
    "      - {column: region, equals: North, style: good, label: N, label_rows: all}\n",
)


def test_a_highlight_label_marks_the_first_row_of_a_run_unless_all(
    make_project: MakeProject,
) -> None:
    csv = "region,amount\nNorth,1200\nNorth,800\nSouth,100\nNorth,500\n"
    root = make_project({"reports.yaml": LABELLED, "data/sales.csv": csv})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 0, result.output
    html = (root / "dist/ceo.html").read_text()
    assert html.count("BIG") == 2  # rows 1 (a run of two) and 4, not 2
    assert html.count(">N<") == 3  # every North row


def test_currency_in_one_section_shares_its_decimals(make_project: MakeProject) -> None:
    yaml = (
        MINIMAL_YAML.replace(
            "  average_order:\n",
            "  savings:\n    expr: 58\n    format: currency\n    decimals: 2\n"
            "  burn:\n    expr: 7027.4\n    format: currency\n  average_order:\n",
        )
        .replace(
            "sections:\n",
            "sections:\n  headline:\n    type: digest\n    title: Headline\n    items:\n"
            "      - {label: Savings, value: savings, unit: per month}\n"
            "      - {label: Burn, value: burn, unit: per month}\n",
        )
        .replace("sections: [summary, sales_table]", "sections: [headline, summary]")
    )
    root = make_project({"reports.yaml": yaml})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 0, result.output
    html = (root / "dist/ceo.html").read_text()
    assert "$58 <span" in html and "$7,027 <span" in html and "$58.00" not in html


def test_table_columns_read_as_words_with_units_and_no_false_zero_rates(
    make_project: MakeProject,
) -> None:
    yaml = MINIMAL_YAML.replace(
        "    columns:\n"
        "      - {field: region, label: Region}\n"
        "      - {field: amount, label: Amount, format: currency, total: sum}\n",
        "    columns:\n"
        "      - {field: region, label: Region, labels: {north_east: North-East}}\n"
        "      - {field: status, label: Status}\n"
        "      - {field: visits, label: Visits, format: integer}\n"
        "      - {field: rate, label: Rate, format: percent, decimals: 1, denominator: visits}\n"
        "      - {field: amount, label: Return, format: number, decimals: 1, unit: ×}\n",
    )
    csv = (
        "region,status,visits,rate,amount\n"
        "north_east,at_risk,100,0.25,27\n"
        "south,IN_PROGRESS,0,0,0.9\n"
    )
    root = make_project({"reports.yaml": yaml, "data/sales.csv": csv})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 0, result.output
    html = (root / "dist/ceo.html").read_text()
    assert ">North-East<" in html and "north_east" not in html
    assert '<span class="chip critical">At risk</span>' in html
    assert '<span class="chip warn">In progress</span>' in html and "IN_PROGRESS" not in html
    assert ">25.0%<" in html and ">—<" in html and "0.0%" not in html
    assert ">27.0×<" in html and ">0.9×<" in html


@pytest.mark.slow
def test_a_chart_with_no_rows_says_so(make_project: MakeProject) -> None:
    yaml = TYPED.replace(
        "sections:\n",
        "sections:\n  trend:\n    type: chart\n    title: Trend\n    source: sales\n"
        "    kind: bar\n    x: region\n    y: amount\n",
    ).replace("sections: [summary, sales_table]", "sections: [trend, summary]")
    root = make_project({"reports.yaml": yaml, "data/sales.csv": "region,amount\n"})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "pdf"])
    assert result.exit_code == 0, result.output
    assert "No data for October 2026" in pdf_text(root / "dist/ceo.pdf")


@pytest.mark.slow
def test_a_report_for_outside_readers_sets_its_cover(make_project: MakeProject) -> None:
    yaml = MINIMAL_YAML.replace(
        "    title: CEO Report\n",
        "    title: CEO Report\n    prepared_for: Harbor Partners\n"
        '    cover: {entities: [North], classification: "Shared with Harbor Partners"}\n',
    )
    root = make_project({"reports.yaml": yaml})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "pdf"])
    assert result.exit_code == 0, result.output
    text = " ".join(pdf_text(root / "dist/ceo.pdf").split())
    assert "Prepared for Harbor Partners" in text
    assert "Entities North " in text and "South" not in text.split("Entities", 1)[1][:20]
    assert "Shared with Harbor Partners" in text and "Confidential" not in text


@pytest.mark.slow
def test_the_default_cover_is_unchanged(make_project: MakeProject) -> None:
    root = make_project()
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "pdf"])
    assert result.exit_code == 0, result.output
    text = " ".join(pdf_text(root / "dist/ceo.pdf").split())
    assert "Confidential" in text and "Entities North, South" in text


def test_hostile_status_values_stay_literal_text(make_project: MakeProject) -> None:
    yaml = MINIMAL_YAML.replace(
        "      - {field: region, label: Region}\n",
        "      - {field: region, label: Region}\n      - {field: status, label: Status}\n",
    )
    csv = (
        "region,status,amount\n"
        'North,"<script>x</script>",1\n'
        'South,"at_risk\r\nBcc: a@example.net",2\n'
    )
    root = make_project({"reports.yaml": yaml, "data/sales.csv": csv})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 0, result.output
    html = (root / "dist/ceo.html").read_text()
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert '<span class="chip neutral">at_risk' in html  # not a code: left as written
