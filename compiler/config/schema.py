"""The JSON Schema side of validation: every violation at once, each explained in plain words
at its position; and each section type's effective schema (the common keys plus the
type's own options)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import Location, Problem, did_you_mean, format_path
from ..resources import builtin_dir, project_schema
from ..section_types import section_type
from .yamlpos import PathT, PositionMap

COMMON_SECTION_PROPS: dict[str, Any] = {
    "type": {"type": "string"},
    "title": {"type": "string"},
    "intro": {"type": "string", "description": "Markdown shown above the section."},
    "note": {"type": "string", "description": "A footnote shown below the section."},
    "source": {"type": "string", "description": "A source name; its rows feed the section."},
    "query": {"type": "string", "description": "DuckDB SQL whose rows feed the section."},
    "where": {"type": "string", "description": "SQL condition applied to 'source'."},
    "order_by": {"type": "string", "description": "SQL ordering applied to 'source'."},
    "limit": {"type": "integer", "minimum": 1},
    "page_break_before": {"type": "boolean"},
}


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "nothing (null)"
    return type(value).__name__


def schema_problems(
    schema: Mapping[str, Any], data: Any, positions: PositionMap, base: PathT = ()
) -> list[Problem]:
    """Every JSON Schema violation of ``data``, as positioned, readable problems."""
    import jsonschema  # here, not at import: a no-change build of a known file skips it

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(data):
        problems.extend(_explain(error, positions, base))
    return problems


Explainer = Callable[[Any, PositionMap, PathT], list[Problem] | None]


def _at(error: Any, positions: PositionMap, base: PathT) -> tuple[PathT, Location, str]:
    path: PathT = (*base, *error.absolute_path)
    return path, positions.at(path), format_path(path)


def _unknown_keys(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    if not isinstance(error.instance, dict):
        return None
    path, _, shown = _at(error, positions, base)
    allowed = set(error.schema.get("properties", {}))
    return [
        Problem(
            f"unknown key '{key}'{did_you_mean(key, allowed)}",
            positions.at((*path, key), key=True),
            shown,
            "" if did_you_mean(key, allowed) else "allowed here: " + ", ".join(sorted(allowed)),
        )
        for key in sorted(set(error.instance) - allowed)
    ]


def _missing(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    _, where, shown = _at(error, positions, base)
    missing = [r for r in error.validator_value if r not in error.instance]
    return [Problem(f"missing required key '{key}'", where, shown) for key in missing]


def _wrong_type(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    _, where, shown = _at(error, positions, base)
    expected = error.validator_value
    names = [expected] if isinstance(expected, str) else list(expected)
    want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    return [Problem(f"expected {want}, got {_kind(error.instance)}", where, shown)]


def _not_one_of(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    _, where, shown = _at(error, positions, base)
    inst, options = error.instance, [str(o) for o in error.validator_value]
    text = f"'{inst}' is not one of: {', '.join(options)}{did_you_mean(str(inst), options)}"
    return [Problem(text, where, shown)]


def _not_const(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    _, where, shown = _at(error, positions, base)
    return [Problem(f"must be {error.validator_value!r}, got {error.instance!r}", where, shown)]


def _bad_pattern(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    path, where, shown = _at(error, positions, base)
    inst = error.instance
    if error.relative_schema_path and "propertyNames" in error.relative_schema_path:
        return [
            Problem(
                f"invalid name '{inst}': use lower-case letters, digits and underscores, "
                "starting with a letter",
                positions.at((*path, inst), key=True),
                shown,
            )
        ]
    desc = error.schema.get("x-error") or error.schema.get("description", "")
    return [Problem(f"'{inst}' is not valid here" + (f": {desc}" if desc else ""), where, shown)]


def _no_branch(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    """``oneOf``: prefer the branch whose type matched; its errors say what is wrong."""
    if not error.context:
        return None
    branch_errors = [e for e in error.context if e.validator not in ("type", "oneOf", "pattern")]
    if branch_errors:
        return [p for e in branch_errors for p in _explain(e, positions, base)]
    kinds = []
    for sub in error.validator_value:
        if sub.get("type"):
            kinds.append(_TYPE_NAMES.get(sub["type"], sub["type"]))
        elif "$ref" in sub:
            kinds.append("a name")
    _, where, shown = _at(error, positions, base)
    return [Problem(f"expected {' or '.join(kinds)}, got {_kind(error.instance)}", where, shown)]


def _empty(error: Any, positions: PositionMap, base: PathT) -> list[Problem] | None:
    _, where, shown = _at(error, positions, base)
    return [Problem("must not be empty", where, shown)]


_EXPLAINERS: dict[str, Explainer] = {
    "additionalProperties": _unknown_keys,
    "required": _missing,
    "type": _wrong_type,
    "enum": _not_one_of,
    "const": _not_const,
    "pattern": _bad_pattern,
    "oneOf": _no_branch,
    "minItems": _empty,
    "minProperties": _empty,
}


def _explain(error: Any, positions: PositionMap, base: PathT) -> list[Problem]:
    """One jsonschema error in plain words, at its position (typed Any: its stub types
    every field as maybe-unset)."""
    explainer = _EXPLAINERS.get(error.validator)
    found = explainer(error, positions, base) if explainer is not None else None
    if found is not None:
        return found
    _, where, shown = _at(error, positions, base)
    return [Problem(str(error.message), where, shown)]


def section_template_paths(
    root: Path, type_name: str
) -> tuple[Path | None, Mapping[str, Any] | Path | None]:
    """(template, options schema) of a section type: the project's own files first."""
    own = root / "sections"
    template = own / f"{type_name}.html.j2"
    kind = section_type(type_name, root)
    schema: Mapping[str, Any] | Path | None = own / f"{type_name}.schema.json"
    if not (own / f"{type_name}.schema.json").is_file():
        schema = kind.schema if kind is not None else None
    if not template.is_file():
        if kind is None or (kind.template is not None and not kind.template.is_file()):
            return None, schema
        builtin = builtin_dir("sections") / f"{type_name}.html.j2"
        template = kind.template or builtin
    return template, schema


@cache
def _fragment(path: Path, mtime: float) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _common_section_props() -> dict[str, Any]:
    """Keys every section type accepts, ``checks`` (as on a source) among them."""
    checks = dict(project_schema()["$defs"]["source_checks"])
    checks["description"] = (
        "Quality gates on the rows the section shows: a failed check blocks the reports "
        "that show it."
    )
    return {**COMMON_SECTION_PROPS, "checks": checks}


def section_schema(options: Mapping[str, Any] | Path | None) -> dict[str, Any]:
    """The effective schema of a section: common keys + the type's own options."""
    if options is None:
        return {"type": "object", "properties": _common_section_props()}
    fragment = _fragment(options, options.stat().st_mtime) if isinstance(options, Path) else options
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**_common_section_props(), **fragment.get("properties", {})},
        "required": ["type", *fragment.get("required", [])],
        "additionalProperties": False,
    }
    if "$defs" in fragment:
        schema["$defs"] = fragment["$defs"]
    return schema
