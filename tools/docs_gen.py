"""Generated documentation: the YAML reference (from the JSON Schema) and the CLI reference
(from click), so neither can drift from what reportc accepts.

Used as an MkDocs hook (``hooks:`` in mkdocs.yml): a page holding the marker
``<!-- generated: yaml-reference -->`` or ``<!-- generated: cli-reference -->`` gets the
reference in its place. ``python tools/docs_gen.py yaml|cli`` prints one.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import click

Node = Mapping[str, Any]
MARKERS = {
    "<!-- generated: yaml-reference -->": lambda: yaml_reference(),
    "<!-- generated: cli-reference -->": lambda: cli_reference(),
}


def _schema() -> Node:
    import reportc

    return reportc.project_schema()


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"`{_cell(text)}`"


class _Reference:
    """Walks the schema; every property it documents is remembered by JSON pointer."""

    def __init__(self, schema: Node) -> None:
        self.schema = schema
        self.defs: Mapping[str, Node] = schema.get("$defs", {})
        self.documented: set[str] = set()
        self.out: list[str] = []

    def ref_name(self, node: Node) -> str | None:
        ref = node.get("$ref", "")
        return ref.rsplit("/", 1)[-1] if ref.startswith("#/$defs/") else None

    def type_of(self, node: Node | bool) -> str:
        if not isinstance(node, Mapping):
            return "any"
        name = self.ref_name(node)
        if name:
            return f"[{name}](#{name})" if name in self.defs else f"`{name}`"
        if "const" in node:
            return _code(node["const"])
        if "enum" in node:
            return " \\| ".join(_code(v) for v in node["enum"])
        for key in ("oneOf", "anyOf"):
            if key in node:
                return " or ".join(self.type_of(alt) for alt in node[key])
        kind = node.get("type", "object" if "properties" in node else "any")
        if kind == "array":
            return f"list of {self.type_of(node.get('items', {}))}"
        if kind == "object" and isinstance(node.get("additionalProperties"), Mapping):
            return f"map of name → {self.type_of(node['additionalProperties'])}"
        return " or ".join(kind) if isinstance(kind, list) else str(kind)

    def row(self, key: str, node: Node | bool, required: bool, pointer: str) -> str:
        self.documented.add(pointer)
        node = node if isinstance(node, Mapping) else {}
        notes = [node.get("description", "")]
        for bound in ("minimum", "exclusiveMinimum", "maximum", "minLength", "pattern"):
            if bound in node:
                notes.append(f"{bound}: {_code(node[bound])}.")
        if node.get("examples"):
            notes.append("Example: " + ", ".join(_code(e) for e in node["examples"]) + ".")
        default = _code(node["default"]) if "default" in node else ""
        name = f"`{key}`" + (" (required)" if required else "")
        text = _cell(" ".join(filter(None, notes)))
        return f"| {name} | {self.type_of(node)} | {default} | {text} |"

    def table(self, title: str, path: str, node: Node, pointer: str, level: int) -> None:
        """One heading and a table of ``node``'s properties, then nested objects."""
        props = {k: v for k, v in node.get("properties", {}).items() if v is not True}
        self.out += [f"{'#' * level} {title}", ""]
        if node.get("description"):
            self.out += [node["description"], ""]
        if props:
            self.out += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
            required = set(node.get("required", ()))
            for key, sub in props.items():
                self.out.append(self.row(key, sub, key in required, f"{pointer}/properties/{key}"))
            self.out.append("")
        for key, sub in props.items():
            child = f"{path}.{key}" if path else key
            self.nested(child, sub, f"{pointer}/properties/{key}", level)
        self.branches(path, node, pointer, level)

    def nested(self, path: str, node: Node | bool, pointer: str, level: int) -> None:
        if not isinstance(node, Mapping) or self.ref_name(node):
            return
        if "properties" in node or "allOf" in node:
            self.table(f"`{path}`", path, node, pointer, min(level + 1, 4))
        add = node.get("additionalProperties")
        if isinstance(add, Mapping):
            self.nested(f"{path}.<name>", add, f"{pointer}/additionalProperties", level)
        items = node.get("items")
        if isinstance(items, Mapping):
            self.nested(f"{path}[]", items, f"{pointer}/items", level)
        for key in ("oneOf", "anyOf"):
            for i, alt in enumerate(node.get(key, ())):
                self.nested(path, alt, f"{pointer}/{key}/{i}", level)

    def branches(self, path: str, node: Node, pointer: str, level: int) -> None:
        """``allOf: [{if: {type: csv}, then: {...}}]``: the keys of each variant."""
        for i, branch in enumerate(node.get("allOf", ())):
            then, cond = branch.get("then"), branch.get("if", {}).get("properties", {})
            if not isinstance(then, Mapping):
                continue
            when = ", ".join(f"{k}: {self.type_of(v)}" for k, v in cond.items())
            title = f"`{path}` when {when}"
            self.table(title, path, then, f"{pointer}/allOf/{i}/then", min(level + 1, 4))

    def render(self) -> str:
        self.table("Top level", "", self.schema, "", 2)
        self.out += ["## Shared definitions", ""]
        for name, node in self.defs.items():
            if "properties" in node or "allOf" in node:
                self.table(f"`{name}`", name, node, f"/$defs/{name}", 3)
            else:
                text = f"{self.type_of(node)}. {node.get('description', '')}".strip()
                self.out += [f"### `{name}`", "", text, ""]
                self.nested(name, node, f"/$defs/{name}", 3)
        return "\n".join(self.out) + "\n"

    def section_types(self, types: Mapping[str, Node]) -> str:
        """Each section type's own keys (``sections.<name>`` with that ``type:``)."""
        self.out = ["## Section types", ""]
        for name, schema in types.items():
            title = f"`{name}`: `sections.<name>` with `type: {name}`"
            self.table(title, f"sections.<{name}>", schema, f"section:{name}", 3)
            for dname, node in schema.get("$defs", {}).items():
                pointer = f"section:{name}/$defs/{dname}"
                if "properties" in node:
                    self.table(f"`{name}`: `{dname}`", dname, node, pointer, 4)
                else:
                    self.out += [f"#### `{name}`: `{dname}`", "", self.type_of(node), ""]
                    self.nested(dname, node, pointer, 3)
        return "\n".join(self.out) + "\n"


def all_properties(schema: Node) -> Iterator[str]:
    """The JSON pointer of every property the schema declares (but ``true`` ones)."""

    def walk(node: Any, pointer: str) -> Iterator[str]:
        if isinstance(node, Mapping):
            for key, sub in node.items():
                if key == "properties" and isinstance(sub, Mapping):
                    for name, prop in sub.items():
                        if prop is not True and not pointer.endswith("/if"):
                            yield f"{pointer}/properties/{name}"
                        yield from walk(prop, f"{pointer}/properties/{name}")
                elif key != "if":
                    yield from walk(sub, f"{pointer}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                yield from walk(sub, f"{pointer}/{i}")

    yield from walk(schema, "")


def section_schemas() -> dict[str, Node]:
    from reportc.section_types import BUILTIN

    return {name: t.schema for name, t in BUILTIN.items()}


def yaml_reference(schema: Node | None = None, types: Mapping[str, Node] | None = None) -> str:
    ref = _Reference(schema or _schema())
    return ref.render() + ref.section_types(section_schemas() if types is None else types)


def documented(schema: Node, types: Mapping[str, Node]) -> set[str]:
    """Every property pointer the reference documents (``section:<type>/...`` for the
    section types' own schemas)."""
    ref = _Reference(schema)
    ref.render()
    ref.section_types(types)
    return ref.documented


def cli_reference() -> str:
    from reportc.cli import main

    out: list[str] = []
    _command(None, main, "reportc", out)
    return "\n".join(out) + "\n"


def _command(parent: click.Context | None, cmd: click.Command, name: str, out: list[str]) -> None:
    ctx = click.Context(cmd, info_name=name.rsplit(" ", 1)[-1], parent=parent)
    text = inspect.cleandoc(cmd.help or "")
    out += [f"### `{name}`", "", text, "", "```text", cmd.get_usage(ctx), "```", ""]
    rows = [p.get_help_record(ctx) for p in cmd.get_params(ctx)]
    records = [r for r in rows if r]
    if records:
        out += ["| option | description |", "| --- | --- |"]
        out += [f"| `{_cell(opt)}` | {_cell(text)} |" for opt, text in records]
        out.append("")
    if isinstance(cmd, click.Group):
        for sub in cmd.list_commands(ctx):
            found = cmd.get_command(ctx, sub)
            if found is not None and not found.hidden:
                _command(ctx, found, f"{name} {sub}", out)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """The MkDocs hook: each marker replaced by its generated reference."""
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


if __name__ == "__main__":
    print(yaml_reference() if sys.argv[1:] == ["yaml"] else cli_reference())
