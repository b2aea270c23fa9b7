"""Configuration: YAML with positions, env interpolation, schema and semantic checks.

The names below are loaded when first used: a PDF worker needs only
:mod:`reportc.config.model`, and importing the loader (with the schema checks and the
dependency graph) would cost every worker about 0.1 s of start-up for nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..fastpath import find_project
    from .loader import DEFAULT_CONFIG, load_project
    from .model import Period, Project, ReportSpec, SectionSpec

_EXPORTS = {
    "DEFAULT_CONFIG": ".loader",
    "Period": ".model",
    "Project": ".model",
    "ReportSpec": ".model",
    "SectionSpec": ".model",
    "find_project": "..fastpath",
    "load_project": ".loader",
}

__all__ = [
    "DEFAULT_CONFIG",
    "Period",
    "Project",
    "ReportSpec",
    "SectionSpec",
    "find_project",
    "load_project",
]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reportc.config' has no attribute '{name}'")
    return getattr(import_module(_EXPORTS[name], __name__), name)
