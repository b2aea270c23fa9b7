"""What a SQL text refers to: ``$parameters`` and bare identifiers.

Used to order sources and metrics (a query depends on the sources it names and
the metrics it uses as parameters) and to pass DuckDB only the parameters a
query declares. String literals and comments are ignored.
"""

from __future__ import annotations

import re
from typing import Any

_STRIP_RE = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)
_PARAM_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_IDENT_RE = re.compile(r'(?<![\w$.])([A-Za-z_][A-Za-z0-9_]*)|"([^"]+)"')


def code_only(sql: str) -> str:
    """The SQL text without its string literals and comments."""
    return _STRIP_RE.sub(" ", sql)


def sql_params(sql: str) -> set[str]:
    return set(_PARAM_RE.findall(code_only(sql)))


def sql_identifiers(sql: str) -> set[str]:
    out = set()
    for bare, quoted in _IDENT_RE.findall(code_only(sql)):
        out.add(bare or quoted)
    return out


def select_problem(sql: str, con: Any) -> str | None:
    """Why ``sql`` is not exactly one read-only ``SELECT`` (or ``WITH … SELECT``), or None.

    DuckDB's own parser decides: ``SELECT 1; COPY … TO 'reports.yaml'`` is two
    statements, ``ATTACH``, ``SET``, ``PRAGMA``, ``INSERT``, ``COPY`` are not SELECTs.
    A text DuckDB cannot parse is left to the query itself to report. ``con``, the
    workspace's DuckDB connection, parses it (DuckDB's module-level parser would open a
    connection of its own, ~15 ms of a build).
    """
    import duckdb  # the SQL stage only: a no-change build never parses SQL

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error:
        return None
    kinds = [str(s.type).rsplit(".", 1)[-1] for s in statements]
    if len(kinds) != 1:
        return (
            f"it holds {len(kinds)} statements ({', '.join(kinds)}); SQL in reports.yaml is one "
            "read-only SELECT"
        )
    if kinds[0] != "SELECT":
        return f"it is a {kinds[0]} statement; SQL in reports.yaml is one read-only SELECT"
    return None


class UnsafeSql(ValueError):
    """Project SQL that is not one read-only SELECT; reported like a failed query."""


def checked_select(sql: str, files: dict[str, str], con: Any) -> str:
    """``sql`` ready for DuckDB: exactly one read-only SELECT (else :class:`UnsafeSql`),
    with the declared data files it names by relative path made absolute (``con``: the
    DuckDB connection that parses it)."""
    problem = select_problem(sql, con)
    if problem:
        raise UnsafeSql(problem)
    return absolute_paths(sql, files)


_LITERAL_RE = re.compile(r"'((?:[^']|'')*)'")


def absolute_paths(sql: str, files: dict[str, str]) -> str:
    """Declared data files named by their project-relative path, made absolute.

    ``read_csv('data/x.csv')`` reads the project's file whatever the current folder
    is (``-C``); a path that is not a declared source is left as it is (and DuckDB,
    which may read only the declared files, refuses it).
    """

    def swap(match: re.Match[str]) -> str:
        text = match.group(1).replace("''", "'")
        key = text[2:] if text.startswith("./") else text
        if key in files:
            return "'" + files[key].replace("'", "''") + "'"
        return match.group(0)

    return _LITERAL_RE.sub(swap, sql)
