"""What a section refers to: the sources and metrics it names, found without binding.

Kept apart from :mod:`reportc.bind` (DuckDB, the data sources) so that fingerprinting
an unchanged project — a no-change build — does not import the binding stage.
"""

from __future__ import annotations

from functools import cache

from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from .config.loader import sql_dependencies
from .config.model import SectionSpec


@cache
def _introspection_env() -> SandboxedEnvironment:
    from .formatting import FORMATS

    env = SandboxedEnvironment()
    for kind in FORMATS:
        env.filters[kind] = str
    return env


def _text_names(text: str) -> set[str]:
    """Names a narrative text uses (so the metrics it shows are bound first)."""
    try:
        return set(meta.find_undeclared_variables(_introspection_env().parse(text)))
    except Exception:
        return set()  # a syntax error is reported, with its position, when rendering


def section_needs(section: SectionSpec, names: set[str]) -> set[str]:
    """Sources and metrics a section refers to directly."""
    opts = section.options
    needs: set[str] = set()
    if "source" in opts:
        needs.add(opts["source"])
    if "query" in opts:
        needs |= set(sql_dependencies(opts["query"], names))
    for item in opts.get("items", ()) if section.type in ("kpis", "digest") else ():
        for key in ("value", "target"):
            if isinstance(item.get(key), str):
                needs.add(item[key])
    for key in ("text", "intro", "note"):
        if isinstance(opts.get(key), str):
            needs |= _text_names(opts[key]) & names
    return needs & names
