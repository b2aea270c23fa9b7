"""Configuration: YAML with positions, env interpolation, schema and semantic checks."""

from ..fastpath import find_project
from .loader import DEFAULT_CONFIG, load_project
from .model import Period, Project, ReportSpec, SectionSpec

__all__ = [
    "DEFAULT_CONFIG",
    "Period",
    "Project",
    "ReportSpec",
    "SectionSpec",
    "find_project",
    "load_project",
]
