"""What a section refers to: the sources and metrics it names, found without binding.

Kept apart from :mod:`reportc.bind` (DuckDB, the data sources) so that fingerprinting
an unchanged project — a no-change build — does not import the binding stage (nor
Jinja, unless a narrative text names a source).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from .config.loader import sql_dependencies
from .config.model import SectionSpec

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@cache
def _introspection_env() -> Any:
    from jinja2.sandbox import SandboxedEnvironment

    from .formatting import FORMATS

    env = SandboxedEnvironment()
    for kind in FORMATS:
        env.filters[kind] = str
    return env


def _text_names(text: str, names: set[str]) -> set[str]:
    """Which of ``names`` a narrative text uses (so the metrics it shows are bound first).

    Only a text in which one of the names appears as a word is parsed (Jinja is not
    even imported otherwise).
    """
    candidates = set(_WORD.findall(text)) & names
    if not candidates:
        return set()
    from jinja2 import meta

    try:
        found = set(meta.find_undeclared_variables(_introspection_env().parse(text)))
    except Exception:
        return set()  # a syntax error is reported, with its position, when rendering
    return found & candidates


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
            needs |= _text_names(opts[key], names)
    return needs & names


def closure(start: Iterable[str], graph: Mapping[str, list[str]]) -> set[str]:
    """``start`` and everything it depends on, through ``graph``."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen
