"""Binding: sources load once, metrics in dependency order, SQL is confined."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from reportc.bind import bind
from reportc.config import load_project
from tests.conftest import MINIMAL_YAML, MakeProject

SHARED = (
    MINIMAL_YAML
    + """\
  cfo:
    title: CFO Report
    sections: [sales_table, by_region]
"""
)


def test_each_source_is_loaded_once_for_all_reports(make_project: MakeProject) -> None:
    text = SHARED.replace(
        "sections:\n  summary:",
        "sections:\n  by_region:\n    type: table\n"
        "    query: SELECT region, sum(amount) AS amount FROM sales GROUP BY region ORDER BY 1\n"
        "  summary:",
    )
    project = load_project(make_project({"reports.yaml": text}), environ={})
    result = bind(project)
    assert result.loaded == ("sales",)
    assert set(result.reports) == {"ceo", "cfo"}
    by_region = result.reports["cfo"].sections[1]
    assert by_region.columns == ("region", "amount")
    assert [r["region"] for r in by_region.rows] == ["North", "South"]
    assert result.reports["cfo"].sources_used.keys() == {"sales"}
    assert result.reports["ceo"].metrics["total_sales"] == 2500


def test_metrics_in_dependency_order_with_period_parameters(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "metrics:\n",
        "metrics:\n"
        "  doubled:\n    expr: average_order * 2\n"
        "  start:\n    sql: SELECT $period_start\n"
        "  big_sales:\n    sql: SELECT count(*) FROM sales WHERE amount > $average_order\n",
    )
    project = load_project(make_project({"reports.yaml": text}), environ={})
    metrics = bind(project).reports["ceo"].metrics
    assert metrics["average_order"] == 2500 / 3
    assert metrics["doubled"] == 2 * 2500 / 3
    assert metrics["start"] == dt.date(2026, 10, 1)
    assert metrics["big_sales"] == 1


def test_declared_types_give_exact_decimals(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "    path: data/sales.csv\n",
        "    path: data/sales.csv\n    types: {amount: 'DECIMAL(12,2)'}\n",
    )
    root = make_project({"reports.yaml": text, "data/sales.csv": "region,amount\nN,0.10\nS,0.20\n"})
    metrics = bind(load_project(root, environ={})).reports["ceo"].metrics
    assert metrics["total_sales"] == Decimal("0.30")


def test_user_sql_cannot_read_files_outside_the_project(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "sql: SELECT count(*) FROM sales",
        "sql: SELECT count(*) FROM read_csv('/etc/passwd')",
    )
    result = bind(load_project(make_project({"reports.yaml": text}), environ={}))
    problem = result.node_failures["orders"].problems[0]
    assert "Permission Error" in problem.message
    assert "ceo" in result.failures


def test_json_yaml_and_inline_sources(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "sources:\n",
        "sources:\n"
        "  stack:\n    type: yaml\n    path: data/stack.yaml\n    records: stack.services\n"
        "  events:\n    type: json\n    path: data/events.json\n"
        "  targets:\n    type: inline\n    rows:\n      - {region: North, target: 1000}\n"
        "      - {region: South, target: 900}\n",
    ).replace(
        "metrics:\n",
        "metrics:\n"
        "  stack_cost:\n    sql: SELECT sum(cost) FROM stack\n"
        "  event_count:\n    sql: SELECT count(*) FROM events WHERE kind = 'x'\n"
        "  target_total:\n    sql: SELECT sum(target) FROM targets\n",
    )
    root = make_project(
        {
            "reports.yaml": text,
            "data/stack.yaml": "stack:\n  services:\n    - {name: a, cost: 1.5, tags: [x]}\n"
            "    - {name: b, cost: 2}\n",
            "data/events.json": '[{"kind": "x"}, {"kind": "y"}, {"kind": "x", "extra": 1}]',
        }
    )
    metrics = bind(load_project(root, environ={})).reports["ceo"].metrics
    assert metrics["stack_cost"] == 3.5
    assert metrics["event_count"] == 2
    assert metrics["target_total"] == 1900


def test_a_failed_source_fails_only_the_reports_that_use_it(make_project: MakeProject) -> None:
    text = (
        MINIMAL_YAML.replace(
            "sources:\n", "sources:\n  broken:\n    type: csv\n    path: data/broken.csv\n"
        )
        + "  other:\n    title: Other\n    sections: [broken_table]\n"
    )
    text = text.replace(
        "sections:\n  summary:",
        "sections:\n  broken_table:\n    type: table\n    source: broken\n  summary:",
    )
    root = make_project({"reports.yaml": text, "data/broken.csv": "a,b\n1\n"})
    result = bind(load_project(root, environ={}))
    assert set(result.reports) == {"ceo"}
    assert (
        result.failures["other"]
        .problems[0]
        .format()
        .startswith("data/broken.csv:2:1: row has 1 fields, the header has 2")
    )


LEDGER_YAML = MINIMAL_YAML.replace(
    "sources:\n",
    "sources:\n  ledger:\n    type: csv\n    path: data/ledger.csv\n"
    "    types: {amount: 'DECIMAL(14,2)', booked: DATE}\n",
).replace(
    "metrics:\n",
    "metrics:\n  ledger_total:\n    sql: SELECT sum(amount) FROM ledger\n",
)


def test_a_source_one_metric_reads_is_read_lazily(make_project: MakeProject) -> None:
    """DuckDB reads it when the metric's query runs (a view), not into a table first;
    sales, which a section and metrics read, is still a table."""
    from reportc.workspace import Workspace, read_once

    ledger = "amount,booked,memo\n10.50,2026-10-01,a\n2.25,2026-10-02,'b\n"
    root = make_project({"reports.yaml": LEDGER_YAML, "data/ledger.csv": ledger})
    project = load_project(root, environ={})
    assert read_once(project) == {"ledger"}
    result = bind(project, ["ceo"])
    assert result.reports["ceo"].metrics["ledger_total"] == Decimal("12.75")
    ws = Workspace(project)
    try:
        ws.load({"ledger", "ledger_total", "sales"})
        kinds = dict(
            ws.con.execute(
                "SELECT table_name, table_type FROM information_schema.tables"
            ).fetchall()
        )
    finally:
        ws.close()
    assert kinds == {"ledger": "VIEW", "sales": "BASE TABLE"}


def test_a_bad_value_in_a_lazily_read_file_is_still_reported_at_its_line_and_column(
    make_project: MakeProject,
) -> None:
    ledger = "amount,booked,memo\n10.50,2026-10-01,a\n" + "1.00,2026-10-03,x\n" * 3000
    ledger += "oops,2026-10-04,y\n"
    root = make_project({"reports.yaml": LEDGER_YAML, "data/ledger.csv": ledger})
    result = bind(load_project(root, environ={}), ["ceo"])
    error = result.node_failures["ledger_total"]
    text = "\n".join(p.format() for p in error.problems)
    assert "data/ledger.csv:3003:1" in text and "oops" in text, text
