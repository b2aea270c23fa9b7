"""SQL sources: a DuckDB query over the other sources (by table name) and parameters.

Parameters are bound, never pasted: ``$period``, ``$period_start``,
``$period_end`` and any metric by name. Only the parameters a query names are
passed (DuckDB refuses extras).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..config.model import SourceSpec
from ..errors import DataError, Location, Problem
from ..sqlrefs import checked_select, sql_params
from .context import SourceContext


def query_params(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in sql_params(sql) if name in values}


def one_value(
    rows: list[Any], width: int, where: Location, path: str, *, all_rows: bool = True
) -> Any:
    """The single value a metric query returns, or why it is not one value.

    ``all_rows``: ``rows`` holds every row (else only the first two were fetched)."""
    if width != 1 or len(rows) > 1:
        count = str(len(rows)) if all_rows or len(rows) < 2 else "more than one"
        raise DataError(
            Problem(
                "a metric query must return one value; this one returned "
                f"{count} row(s) of {width} column(s)",
                where,
                path,
                hint="aggregate (sum, avg, count ...) and select a single column",
            )
        )
    return rows[0][0] if rows else None


def duck_message(exc: BaseException) -> str:
    """DuckDB's message without its error-class prefix noise, first paragraph only."""
    text = str(exc).strip()
    if type(exc).__name__ == "InterruptException" or text.startswith("INTERRUPT"):
        return (
            "stopped: it ran longer than the query time limit (REPORTC_QUERY_TIMEOUT, "
            "default 300 s)"
        )
    if "file system operations are disabled by configuration" in text:
        return (
            text.split(" - ")[0]
            + ": SQL may read only the project's declared data files - declare the file "
            "under sources: and select from the source by name"
        )
    return text.split("\n\n")[0].replace("\n", " ") if text else type(exc).__name__


def load_sql(spec: SourceSpec, con: Any, ctx: SourceContext) -> str:
    assert spec.query is not None
    try:
        query = spec.query.strip().rstrip(";")
        con.execute(
            f'CREATE OR REPLACE TABLE "{spec.name}" AS {checked_select(query, ctx.files, con)}',
            query_params(query, ctx.params),
        )
    except Exception as exc:
        raise DataError(
            Problem(
                f"query failed: {duck_message(exc)}",
                ctx.at("sources", spec.name, "query"),
                f"sources.{spec.name}.query",
            )
        ) from None
    h = hashlib.sha256(spec.query.encode())
    for name, fp in sorted(ctx.fingerprints.items()):
        h.update(f"{name}={fp}".encode())
    return h.hexdigest()
