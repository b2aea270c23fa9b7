"""Where the built-in library (schema/, sections/, templates/) lives.

In an installed wheel the three folders ship inside the package as
``reportc/_builtin/``; in a source checkout they are the top-level folders beside
``compiler/``. Nothing else in reportc needs to know which.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent
SCHEMA_FILE = "reportc-v1.schema.json"


def builtin_dir(name: str) -> Path:
    """Absolute path of the built-in ``schema``, ``sections`` or ``templates`` folder."""
    installed = _PACKAGE / "_builtin" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def package_roots() -> tuple[Path, ...]:
    """Folders of reportc's own files that rendering may read."""
    return (builtin_dir("templates"), builtin_dir("sections"))


@cache
def project_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((builtin_dir("schema") / SCHEMA_FILE).read_text("utf-8"))
    return data
