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
from ..errors import Location
from . import files, sql

Loader = Callable[[SourceSpec, Any, "SourceContext"], str]


class SourceContext:
    """What a loader may need besides its own spec: display paths and parameters."""

    def __init__(
        self,
        root_display: Callable[[Any], str],
        params: Mapping[str, Any],
        fingerprints: Mapping[str, str],
        at: Callable[..., Location],
        files: Mapping[str, str] | None = None,
    ) -> None:
        self.files = dict(files or {})
        self.display = root_display
        self.params = params
        self.fingerprints = fingerprints
        self.at = at


LOADERS: Mapping[str, Loader] = {
    "csv": files.load_csv,
    "json": files.load_json,
    "yaml": files.load_yaml_source,
    "inline": files.load_inline,
    "sql": sql.load_sql,
}

#: Sources read from a file inside the project.
FILE_TYPES = frozenset({"csv", "json", "yaml"})
