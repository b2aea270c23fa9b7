"""What a SQL text refers to: ``$parameters`` and bare identifiers.

Used to order sources and metrics (a query depends on the sources it names and
the metrics it uses as parameters) and to pass DuckDB only the parameters a
query declares. String literals and comments are ignored.
"""

from __future__ import annotations

import re

_STRIP_RE = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)
_PARAM_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_IDENT_RE = re.compile(r'(?<![\w$.])([A-Za-z_][A-Za-z0-9_]*)|"([^"]+)"')


def _code(sql: str) -> str:
    return _STRIP_RE.sub(" ", sql)


def sql_params(sql: str) -> set[str]:
    return set(_PARAM_RE.findall(_code(sql)))


def sql_identifiers(sql: str) -> set[str]:
    out = set()
    for bare, quoted in _IDENT_RE.findall(_code(sql)):
        out.add(bare or quoted)
    return out
