"""Section types that installed plugins add (entry point group ``reportc.section_types``).

A section type is a template (``<type>.html.j2``), optionally a JSON Schema fragment
for its options (``<type>.schema.json``), and optionally a ``prepare`` function that
turns the section's rows into the values its template shows. The built-in types
live in ``sections/`` (and :mod:`reportc.sections`); a project's own ``sections/``
folder comes first; a plugin package comes last::

    # the plugin's pyproject.toml
    [project.entry-points."reportc.section_types"]
    badge = "reportc_badge:SECTION_TYPE"

    # reportc_badge/__init__.py
    SECTION_TYPE = SectionTypePlugin(
        name="badge",
        template=Path(__file__).parent / "badge.html.j2",
        schema=Path(__file__).parent / "badge.schema.json",
        prepare=lambda section, report, fmt: {"label": f"{len(section.rows)} rows"},
    )

``prepare`` receives the bound section (``.spec.options``, ``.columns``, ``.rows``),
the bound report and the report's formatter, and returns a mapping of template
values. Entry points are read only when a type is neither the project's nor built in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

GROUP = "reportc.section_types"


@dataclass(frozen=True)
class SectionTypePlugin:
    name: str
    template: Path
    schema: Path | None = None
    prepare: Callable[[Any, Any, Any], Mapping[str, Any]] | None = None


def plugin_types() -> dict[str, SectionTypePlugin]:
    """The section types installed plugins add, by name (entry points are read anew)."""
    found: dict[str, SectionTypePlugin] = {}
    for entry in metadata.entry_points(group=GROUP):
        try:
            plugin = entry.load()
        except Exception:  # a broken plugin is reported where its type is used
            continue
        if isinstance(plugin, SectionTypePlugin) or (
            hasattr(plugin, "name") and hasattr(plugin, "template")
        ):
            found[str(plugin.name)] = SectionTypePlugin(
                str(plugin.name),
                Path(plugin.template),
                Path(plugin.schema) if getattr(plugin, "schema", None) else None,
                getattr(plugin, "prepare", None),
            )
    return found


def plugin_type(name: str) -> SectionTypePlugin | None:
    return plugin_types().get(name)
