"""Data sources, one module per family, registered by the ``type`` name used in YAML.

A loader takes a :class:`SourceSpec` and a DuckDB connection, creates a table
named after the source, and returns a fingerprint (sha256 of what it read) so
that manifests can say exactly which data a report was built from. Loaders raise
:class:`~reportc.errors.DataError` pointing into the data file (``file:line:col``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..config.model import SourceSpec
from . import external, files, sql
from .context import SourceContext

__all__ = ["FILE_TYPES", "LOADERS", "Loader", "SourceContext", "external", "files", "sql"]

Loader = Callable[[SourceSpec, Any, SourceContext], str]


LOADERS: Mapping[str, Loader] = {
    "csv": files.load_csv,
    "json": files.load_json,
    "yaml": files.load_yaml_source,
    "inline": files.load_inline,
    "sql": sql.load_sql,
}

#: Sources read from a file inside the project.
FILE_TYPES = frozenset({"csv", "json", "yaml"})
