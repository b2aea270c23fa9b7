"""SQL against external databases (PostgreSQL and any SQLAlchemy URL).

A ``sql`` source or metric with ``database:`` runs in that database, not in
DuckDB: a metric's aggregate is computed there and only one value comes back;
a source's rows are streamed in batches (server-side cursor) into a DuckDB
table, so large results never sit in memory at once. Parameters (``$name``)
become bind parameters (``:name``); nothing is pasted into the SQL. Engines
are created once per build. URLs may hold passwords and are never shown.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..config.model import DatabaseSpec
from ..errors import DataError, Location, Problem
from ..sqlrefs import code_only
from .files import create_table
from .sql import one_value, query_params

BATCH = 10_000
_STRING_OR_PARAM = re.compile(r"('(?:[^']|'')*')|\$([A-Za-z_][A-Za-z0-9_]*)")


def to_bind_params(sql: str) -> str:
    """``$name`` -> ``:name`` outside string literals (SQLAlchemy ``text()`` style)."""
    return _STRING_OR_PARAM.sub(lambda m: m.group(1) or f":{m.group(2)}", sql)


def engine(spec: DatabaseSpec) -> Any:
    try:
        import sqlalchemy
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise DataError(
            Problem(
                f"database '{spec.name}' needs SQLAlchemy and a driver",
                spec.location,
                hint="pip install 'reportc[postgres]'",
            )
        ) from None
    try:
        return sqlalchemy.create_engine(spec.url, pool_pre_ping=True)
    except Exception as exc:
        raise DataError(
            Problem(
                f"database '{spec.name}': cannot use this URL: {type(exc).__name__}",
                spec.location,
                hint="check the URL in your env file (it is not shown here)",
            )
        ) from None


def _message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    text = text.split("(Background on this error")[0].strip()
    return " ".join(text.split())[:400] or type(exc).__name__


def _read_only(conn: Any, sql: str) -> None:
    """One statement, run in a read-only transaction where the database has them.

    The database's own SQL dialect is not DuckDB's, so the statement is not parsed
    here: a second statement is refused by its ``;``, and PostgreSQL refuses any
    write in a ``READ ONLY`` transaction (so does a data-modifying ``WITH``).
    """
    if ";" in code_only(sql).strip().rstrip(";"):
        raise ValueError("SQL in reports.yaml is one read-only SELECT; this holds several")
    if conn.dialect.name == "postgresql":
        from sqlalchemy import text

        conn.execute(text("SET TRANSACTION READ ONLY"))


def run_metric(
    eng: Any, sql: str, values: Mapping[str, Any], where: Location, path: str
) -> tuple[Any, int]:
    """One value computed in the database; returns (value, width)."""
    from sqlalchemy import text

    try:
        with eng.connect() as conn:
            _read_only(conn, sql)
            result = conn.execute(text(to_bind_params(sql)), query_params(sql, values))
            rows = result.fetchmany(2)
            width = len(result.keys())
    except Exception as exc:
        raise DataError(
            Problem(f"query failed in the database: {_message(exc)}", where, path)
        ) from None
    return one_value(list(rows), width, where, path, all_rows=False), width


def load_source(
    eng: Any,
    con: Any,
    name: str,
    sql: str,
    values: Mapping[str, Any],
    types: Mapping[str, str],
    where: Location,
    path: str,
) -> str:
    """Stream the query's rows into DuckDB table ``name``; return a fingerprint."""
    from sqlalchemy import text

    digest = hashlib.sha256(sql.encode())
    try:
        with eng.connect() as conn:
            _read_only(conn, sql)
            result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
                text(to_bind_params(sql)), query_params(sql, values)
            )
            columns = list(result.keys())

            def batches() -> Iterator[Sequence[Mapping[str, Any]]]:
                for part in result.partitions(BATCH):
                    batch = [dict(zip(columns, row, strict=True)) for row in part]
                    for row in batch:
                        digest.update(repr(tuple(row.values())).encode())
                    yield batch

            stream = batches()
            first = next(stream, [])
            create_table(
                con, name, first, types, f"{path} (database)", columns=columns, more=stream
            )
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            Problem(f"query failed in the database: {_message(exc)}", where, path)
        ) from None
    return digest.hexdigest()
