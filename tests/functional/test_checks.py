"""Quality gates: failed checks block reports (fail closed); an override is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc import load_project
from reportc.cli import main
from reportc.delivery import Ledger, OutboxTransport
from reportc.dispatch import send
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject

CHECKED = SEND_YAML.replace(
    "    path: data/sales.csv\n",
    "    path: data/sales.csv\n"
    "    checks:\n      min_rows: 2\n      not_null: [region]\n"
    "      range: {column: amount, min: 0}\n",
).replace(
    "  orders:\n    sql: SELECT count(*) FROM sales\n",
    "  orders:\n    sql: SELECT count(*) FROM sales\n    checks: {max: 100}\n"
    "  orders_again:\n    sql: SELECT count(*) FROM sales\n"
    "    checks: {equals: {metric: orders}}\n",
)


def test_passing_checks_change_nothing(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": CHECKED})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((root / "dist/manifest.json").read_text())
    assert {e["status"] for e in manifest["reports"].values()} == {"ok"}


@pytest.mark.slow
def test_failed_checks_block_the_reports_that_use_the_data(
    make_project: MakeProject, tmp_path: Path
) -> None:
    bad = "region,amount\nNorth,10\n,-5\n"
    root = make_project({"reports.yaml": CHECKED, "data/sales.csv": bad})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert result.exit_code == 1
    assert "BLOCKED ceo          source 'sales': 1 rows have no 'region'" in result.output
    assert "source 'sales': 1 rows have 'amount' outside [0, ]" in result.output
    manifest = json.loads((root / "dist/manifest.json").read_text())
    assert manifest["reports"]["ceo"]["status"] == "blocked"
    assert manifest["reports"]["ceo"]["checks"] == [
        "source 'sales': 1 rows have no 'region'",
        "source 'sales': 1 rows have 'amount' outside [0, ]",
    ]
    allowed = CliRunner().invoke(
        main, ["-C", str(root), "build", "--jobs", "1", "--allow-failed-checks"]
    )
    assert allowed.exit_code == 0
    # send refuses the blocked reports; --allow-failed-checks sends them, recorded as such
    project = load_project(root, environ={})
    box = OutboxTransport(tmp_path / "box")
    refused = send(project, transport=box, clock=lambda: FIXED_NOW, sleep=lambda s: None)
    states = {m.report: m.state for m in refused.messages}
    assert states == {"ceo": "failed", "cfo": "failed", "cmo": "failed"}
    detail = next(m.detail for m in refused.messages if m.report == "ceo")
    assert detail.startswith("blocked by a failed check: source 'sales'")
    assert not list((tmp_path / "box").glob("*.eml"))
    forced = send(
        project,
        transport=box,
        clock=lambda: FIXED_NOW,
        sleep=lambda s: None,
        allow_failed_checks=True,
    )
    assert {m.state for m in forced.messages} == {"sent"}
    ledger = Ledger(root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)
    assert all(
        r.override.startswith("failed checks overridden: source 'sales'") for r in ledger.rows()
    )


def test_metric_checks_and_reconciliation(make_project: MakeProject) -> None:
    text = (
        CHECKED.replace("checks: {max: 100}", "checks: {max: 2}")
        .replace(
            "  orders_again:\n    sql: SELECT count(*) FROM sales\n",
            "  orders_again:\n    sql: SELECT count(*) + 1 FROM sales\n",
        )
        .replace(
            'text: "Sales were {{ total_sales | currency }} from {{ orders }} orders."',
            'text: "{{ orders }} {{ orders_again }}"',
        )
    )
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert result.exit_code == 1
    assert "metric 'orders' is 3, above 2" in result.output
    assert (
        "metric 'orders_again' (4) does not reconcile with 'orders' (3), tolerance 0"
        in result.output
    )


def test_freshness_is_measured_from_the_period_end(make_project: MakeProject) -> None:
    text = CHECKED.replace(
        "      range: {column: amount, min: 0}\n",
        "      range: {column: amount, min: 0}\n      freshness: {column: day, max_age_days: 7}\n",
    )
    stale = "region,amount,day\nNorth,10,2026-10-20\nSouth,5,2026-10-21\n"
    root = make_project({"reports.yaml": text, "data/sales.csv": stale})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1", "--format", "html"])
    assert result.exit_code == 1
    assert (
        "source 'sales': newest 'day' is 2026-10-21, more than 7 days before the period "
        "end 2026-10-31"
    ) in result.output
    fresh = stale.replace("2026-10-21", "2026-10-30")
    (root / "data/sales.csv").write_text(fresh)
    again = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1", "--format", "html"])
    assert again.exit_code == 0, again.output


@pytest.mark.slow
def test_section_checks_block_only_the_reports_that_show_the_section(
    make_project: MakeProject,
) -> None:
    yaml_text = SEND_YAML.replace(
        "    source: sales\n    columns:\n",
        "    source: sales\n"
        "    checks:\n      min_rows: 5\n      not_null: [region]\n"
        "      range: {column: amount, max: 1000}\n"
        "    columns:\n",
    )
    root = make_project({"reports.yaml": yaml_text})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert result.exit_code == 1
    manifest = json.loads((root / "dist/manifest.json").read_text())
    assert manifest["reports"]["cfo"]["status"] == "ok"  # its sections have no checks
    assert manifest["reports"]["ceo"]["checks"] == [
        "section 'sales_table' has 3 rows, fewer than 5",
        "section 'sales_table': 1 rows have 'amount' outside [, 1000]",
    ]
    assert manifest["reports"]["cmo"]["status"] == "blocked"

    # a check that names a column the rows do not have says so
    typo = yaml_text.replace("not_null: [region]", "not_null: [regoin]")
    (root / "reports.yaml").write_text(typo)
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert "section 'sales_table': a check names column 'regoin' (did you mean 'region'?)" in (
        result.output
    )
    # and a bad check is a configuration error, with its position
    (root / "reports.yaml").write_text(yaml_text.replace("min_rows: 5", "min_rows: many"))
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 3
    assert "sections.sales_table.checks.min_rows:" in result.output
