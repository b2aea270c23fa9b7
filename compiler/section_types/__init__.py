"""The registry of section types: the built-ins (one module each here) and plugins'.

A section type (:class:`SectionType`, in :mod:`.base`) is a name, an options schema, a
template, and its behaviour: ``needs``, ``prepare``, ``summary``, ``figures`` and
``history``. :func:`section_type` finds the type a section names: a built-in, a
template in the project's own ``sections/`` folder (a template-only type), or one an
installed plugin adds through the entry point group ``reportc.section_types``::

    # the plugin's pyproject.toml
    [project.entry-points."reportc.section_types"]
    badge = "reportc_badge:SECTION_TYPE"

    # reportc_badge/__init__.py
    from reportc.section_types import SectionType

    SECTION_TYPE = SectionType(
        name="badge",
        template=Path(__file__).parent / "badge.html.j2",
        schema=Path(__file__).parent / "badge.schema.json",
        prepare=lambda section, report, fmt: {"label": f"{len(section.rows)} rows"},
    )

``prepare`` receives the section (:class:`.base.SectionView`: ``.spec.options``,
``.columns``, ``.rows``), its report (:class:`.base.ReportView`) and the report's
formatter, and returns a mapping of template values. Entry points are read only when
a type is neither built in nor the project's.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping
from importlib import import_module, metadata
from pathlib import Path
from types import MappingProxyType

from .base import SectionType, SectionView, Summary

GROUP = "reportc.section_types"
#: The name plugins used before SectionType carried behaviour; the same class.
SectionTypePlugin = SectionType


def _builtin() -> dict[str, SectionType]:
    """Every module of this package but ``base`` is one built-in type (its ``TYPE``):
    adding a type is adding a module (and its template in ``sections/``)."""
    found: dict[str, SectionType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base":
            kind = getattr(import_module(f"{__name__}.{info.name}"), "TYPE", None)
            if isinstance(kind, SectionType):
                found[kind.name] = kind
    return found


BUILTIN: Mapping[str, SectionType] = MappingProxyType(_builtin())
BUILTIN_TYPES = tuple(BUILTIN)

__all__ = [
    "BUILTIN",
    "BUILTIN_TYPES",
    "GROUP",
    "SectionType",
    "SectionTypePlugin",
    "SectionView",
    "Summary",
    "behaviour",
    "plugin_type",
    "plugin_types",
    "section_type",
]


def _adapt(plugin: object) -> SectionType | None:
    """A plugin's object as a SectionType (duck-typed: name and template suffice)."""
    if isinstance(plugin, SectionType):
        return plugin
    name, template = getattr(plugin, "name", None), getattr(plugin, "template", None)
    if name is None or template is None:
        return None
    schema = getattr(plugin, "schema", None)
    prepare = getattr(plugin, "prepare", None)
    made = SectionType(str(name), Path(template), Path(schema) if schema else None)
    return made if prepare is None else SectionType(made.name, made.template, made.schema, prepare)


def plugin_types() -> dict[str, SectionType]:
    """The section types installed plugins add, by name (entry points are read anew)."""
    found: dict[str, SectionType] = {}
    for entry in metadata.entry_points(group=GROUP):
        try:
            plugin = _adapt(entry.load())
        except Exception:  # a broken plugin is reported where its type is used
            continue
        if plugin is not None:
            found[plugin.name] = plugin
    return found


def plugin_type(name: str) -> SectionType | None:
    return plugin_types().get(name)


def section_type(name: str, root: Path | None = None) -> SectionType | None:
    """The type a section names: built in, a template in ``root/sections`` (template
    only, no behaviour), or a plugin's; None when none has it."""
    if name in BUILTIN:
        return BUILTIN[name]
    if root is not None and (root / "sections" / f"{name}.html.j2").is_file():
        return SectionType(name)
    return plugin_type(name)


def behaviour(name: str) -> SectionType | None:
    """The type's behaviour where the project folder is not at hand: built in or a
    plugin's (a project's template-only type has none)."""
    return BUILTIN.get(name) or plugin_type(name)
