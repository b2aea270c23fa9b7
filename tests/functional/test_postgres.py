"""SQL sources and metrics against a real PostgreSQL server (started by .ci/run).

Locally: start PostgreSQL and set REPORTC_TEST_POSTGRES_URL (see the README); without
it these tests are skipped, except in CI, where they must run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

from reportc import load_project
from reportc.bind import bind
from reportc.cli import main
from tests.conftest import MINIMAL_YAML, MakeProject, pdf_text

URL_VAR = "REPORTC_TEST_POSTGRES_URL"


@pytest.fixture
def pg() -> Iterator[tuple[str, str, Any]]:
    """(url, table name, sqlalchemy engine) with a fresh 25,000-row orders table."""
    url = os.environ.get(URL_VAR)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{URL_VAR} is not set: .ci/run must start PostgreSQL")
        pytest.skip(f"set {URL_VAR} to run the PostgreSQL tests")
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    table = f"orders_{secrets.token_hex(4)}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {table} AS SELECT n AS order_id, "
                "('R' || (n % 4)) AS region, (n % 97 + 0.5)::numeric(10,2) AS amount, "
                "DATE '2026-09-01' + (n % 61) AS created_at FROM generate_series(1, 25000) AS n"
            )
        )
    try:
        yield url, table, engine
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def pg_yaml(table: str) -> str:
    return (
        MINIMAL_YAML.replace(
            "sources:\n",
            "databases:\n  warehouse:\n    url: ${WAREHOUSE_URL}\n"
            "sources:\n"
            "  pg_orders:\n    type: sql\n    database: warehouse\n"
            f"    query: SELECT * FROM {table} WHERE created_at BETWEEN $period_start AND "
            "$period_end\n",
        )
        .replace(
            "metrics:\n",
            "metrics:\n"
            "  october_total:\n    database: warehouse\n    format: currency\n    decimals: 2\n"
            f"    sql: SELECT sum(amount) FROM {table} WHERE created_at BETWEEN $period_start "
            "AND $period_end\n",
        )
        .replace(
            "sections:\n",
            "sections:\n  by_region:\n    type: table\n    title: Orders by region\n"
            "    query: SELECT region, count(*) AS orders, sum(amount) AS amount FROM pg_orders "
            "GROUP BY region ORDER BY region\n"
            "    columns: [region, {field: orders, format: integer, total: sum}, "
            "{field: amount, format: currency, decimals: 2, total: sum}]\n"
            "  pg_summary:\n    type: markdown\n"
            "    text: 'October orders came to {{ october_total | currency(2) }}.'\n",
        )
        .replace("sections: [summary, sales_table]", "sections: [pg_summary, by_region]")
    )


def expected(engine: Any, table: str) -> tuple[int, Decimal, dict[str, tuple[int, Decimal]]]:
    import sqlalchemy as sa

    where = "created_at BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'"
    with engine.connect() as conn:
        count, total = conn.execute(
            sa.text(f"SELECT count(*), sum(amount) FROM {table} WHERE {where}")
        ).one()
        regions = {
            r: (n, a)
            for r, n, a in conn.execute(
                sa.text(
                    f"SELECT region, count(*), sum(amount) FROM {table} WHERE {where} GROUP BY 1"
                )
            )
        }
    return count, total, regions


def test_postgres_source_and_metric(make_project: MakeProject, pg: tuple[str, str, Any]) -> None:
    url, table, engine = pg
    root = make_project({"reports.yaml": pg_yaml(table)})
    result = CliRunner().invoke(
        main, ["-C", str(root), "build", "--jobs", "1"], env={"WAREHOUSE_URL": url}
    )
    assert result.exit_code == 0, result.output
    count, total, regions = expected(engine, table)
    text = pdf_text(root / "dist/ceo.pdf")
    assert f"October orders came to ${total:,.2f}." in text
    for region, (n, amount) in sorted(regions.items()):
        assert f"{region} {n:,} ${amount:,.2f}" in text
    assert f"Total {count:,} ${total:,.2f}" in text


def test_large_results_stream_in_batches_and_aggregates_stay_in_the_database(
    make_project: MakeProject, pg: tuple[str, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportc.sources import external
    from reportc.sources.files import create_table

    url, table, engine = pg
    batches: list[int] = []
    real_create = create_table  # what external.py calls; the spy wraps it

    def spy(con: Any, name: str, rows: Any, types: Any, display: str, **kw: Any) -> int:
        more = kw["more"]

        def counting() -> Iterator[Any]:
            for batch in more:
                batches.append(len(batch))
                yield batch

        batches.append(len(rows))
        return real_create(con, name, rows, types, display, columns=kw["columns"], more=counting())

    monkeypatch.setattr(external, "create_table", spy)
    monkeypatch.setattr(external, "BATCH", 1000)
    root = make_project({"reports.yaml": pg_yaml(table)})
    project = load_project(root, environ={"WAREHOUSE_URL": url})
    result = bind(project)
    count, total, _ = expected(engine, table)
    assert sum(batches) == count and max(batches) == 1000 and len(batches) > 5
    assert result.reports["ceo"].metrics["october_total"] == total
    # The metric's table was never copied here: only the 'pg_orders' source was loaded.
    assert sorted(result.loaded) == ["pg_orders", "sales"]


def test_database_errors_are_clear_and_hide_the_password(
    make_project: MakeProject, pg: tuple[str, str, Any]
) -> None:
    url, table, _ = pg
    wrong = url.replace(":reportc@", ":not-the-password@")
    root = make_project({"reports.yaml": pg_yaml(table)})
    result = CliRunner().invoke(main, ["-C", str(root), "validate"], env={"WAREHOUSE_URL": wrong})
    assert result.exit_code == 4
    assert "query failed in the database:" in result.output
    assert "password authentication failed" in result.output
    assert "not-the-password" not in result.output
    bad_sql = pg_yaml(table).replace("SELECT sum(amount)", "SELECT sum(amont)")
    root2 = make_project({"reports.yaml": bad_sql})
    result = CliRunner().invoke(main, ["-C", str(root2), "validate"], env={"WAREHOUSE_URL": url})
    assert "metrics.october_total.sql: query failed in the database:" in result.output
    assert 'column "amont" does not exist' in result.output


def test_unknown_database_is_a_config_error(make_project: MakeProject) -> None:
    text = pg_yaml("orders").replace(
        "    database: warehouse\n    format", "    database: warehouse2\n    format"
    )
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(
        main,
        ["-C", str(root), "validate"],
        env={"WAREHOUSE_URL": "postgresql+psycopg://u@127.0.0.1/x"},
    )
    assert result.exit_code == 3
    assert (
        "metrics.october_total.database: unknown database 'warehouse2' (did you mean "
        "'warehouse'?)" in result.output
    )


def test_database_sql_is_read_only(make_project: MakeProject, pg: tuple[str, str, Any]) -> None:
    """A write in a metric's SQL is refused by the database's read-only transaction, and a
    second statement by reportc; the table is untouched."""
    import sqlalchemy as sa

    url, table, engine = pg
    for sql in (
        f"WITH gone AS (DELETE FROM {table} RETURNING 1) SELECT count(*) FROM gone",
        f"SELECT 1; DROP TABLE {table}",
    ):
        text = pg_yaml(table).replace(
            f"    sql: SELECT sum(amount) FROM {table} WHERE created_at BETWEEN $period_start "
            "AND $period_end\n",
            f'    sql: "{sql}"\n',
        )
        root = make_project({"reports.yaml": text})
        result = CliRunner().invoke(main, ["-C", str(root), "validate"], env={"WAREHOUSE_URL": url})
        assert result.exit_code == 4, result.output
        assert "metrics.october_total.sql: query failed in the database:" in result.output
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 25000
