"""Every count and figure the example's narrative states, recomputed from the data files
(not through reportc) and found in the PDF text; and the sentences agree with the tables
and cards beside them."""

from __future__ import annotations

import csv
import re
from decimal import ROUND_HALF_UP, Decimal

import yaml

import reportc
from tests.conftest import REPO, pdf_text


def _text(build: reportc.BuildResult, name: str) -> str:
    return " ".join(pdf_text(build.out_dir / f"{name}.pdf").split())


def _kpis() -> list[dict[str, str]]:
    with (REPO / "data/kpis.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


def test_the_ceo_kpi_sentence_agrees_with_the_data_and_the_cards(
    example_build: reportc.BuildResult,
) -> None:
    rows = _kpis()
    missing = sum(1 for r in rows if not r["actual"])
    off = near = 0
    for r in rows:
        if not r["actual"] or not r["target"]:
            continue
        actual, target = float(r["actual"]), float(r["target"])
        short = actual < target if r["direction"] == "higher" else actual > target
        if short:
            if abs(actual - target) > abs(target) * 0.1:
                off += 1
            else:
                near += 1
    text = _text(example_build, "ceo")
    assert (
        f"{missing} KPIs have no measurement; of those measured, {off} are off target and "
        f"{near} near target."
    ) in text
    assert f"{near} near target, {off} off target, {missing} missing." in text


def test_the_headline_digest_reads_as_the_data_says(example_build: reportc.BuildResult) -> None:
    findings = yaml.safe_load((REPO / "data/findings.yaml").read_text("utf-8"))["findings"]
    critical = sum(1 for f in findings if f["area"] == "shortfall" and f["severity"] == "critical")
    security = sum(1 for f in findings if f["area"] == "security")
    stack = yaml.safe_load((REPO / "data/tech_stack.yaml").read_text("utf-8"))["services"]
    savings = sum(
        (Decimal(str(s["monthly_cost"])) - Decimal(str(s["right_sized_cost"])) for s in stack),
        Decimal(0),
    )
    spend = sum((Decimal(str(s["monthly_cost"])) for s in stack), Decimal(0))
    missing = sum(1 for r in _kpis() if not r["actual"])
    assert (critical, security, missing, savings) == (8, 6, 9, Decimal("25.00"))  # the seed's
    ceo = _text(example_build, "ceo")
    assert f"{critical} Critical business shortfalls" in ceo
    assert f"{critical} critical shortfalls across the four entities" in ceo
    assert f"{security} Security vulnerabilities" in ceo
    assert f"{missing} KPIs with no measurement" in ceo
    assert f"{_money(savings)} per month Infrastructure savings identified" in ceo
    cto = _text(example_build, "cto")
    assert (
        f"The group runs ${spend:,.2f} a month of software and infrastructure. The audit found "
        f"{security} security vulnerabilities and ${savings:,.2f} a month of savings"
    ) in cto


def test_the_break_even_sentence_names_the_projection_figures(
    example_build: reportc.BuildResult,
) -> None:
    text = _text(example_build, "cfo")
    said = re.search(
        r"overtakes expenses in (\w{3} \d{4}): (\$[\d,]+) against (\$[\d,]+), as in the "
        r"projection below",
        text,
    )
    assert said is not None, text[:2000]
    month, revenue, expenses = said.groups()
    table = text.split("Revenue projection, next 12 months", 2)[-1]
    assert f"{month} {revenue} {expenses}" in table


def test_the_campaign_total_is_recomputed_from_the_data(
    example_build: reportc.BuildResult,
) -> None:
    campaigns = yaml.safe_load((REPO / "data/campaigns.yaml").read_text("utf-8"))["campaigns"]
    total = sum(
        Decimal(str(c["reach"]))
        * Decimal(str(c["click_rate"]))
        * Decimal(str(c["conversion_rate"]))
        * Decimal(str(c["average_order"]))
        for c in campaigns
    )
    text = _text(example_build, "cmo")
    assert f"{_money(Decimal(total))} in total." in text


def test_expenses_are_grouped_by_category(example_build: reportc.BuildResult) -> None:
    html = (example_build.out_dir / "accounting.html").read_text("utf-8")
    table = html.split("Expense categorisation", 1)[1].split("</table>", 1)[0]
    categories = re.findall(r'<tr>\s*<td class="left">([^<]+)</td>', table)
    seen: list[str] = []
    for category in categories:
        if not seen or seen[-1] != category:
            assert category not in seen, f"{category} appears in two places: {categories}"
            seen.append(category)
    assert len(seen) >= 5


def test_shell_completion_is_offered() -> None:
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "from reportc.cli import run; run()"],
        env={**os.environ, "_REPORTC_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "_reportc_completion()" in out.stdout, out.stderr
