"""YAML loading that remembers where every key and value came from.

PyYAML composes the document into a node tree (each node keeps its
``start_mark``); we construct plain Python values from that tree ourselves so we
can record ``path -> (line, col)`` for every value and every mapping key, refuse
duplicate keys, bound alias expansion (no "billion laughs"), and interpolate
``${VAR}`` / ``${VAR:-default}`` in string scalars with the position of the
scalar at hand when a variable is undefined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError, Location, Problem, format_path
from ..logs import SECRET_NAME

PathT = tuple[str | int, ...]

_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: A document that expands to more nodes than this is refused (alias bombs).
MAX_NODES = 200_000
#: ... or to more characters of text than this (one large anchor referenced many times).
MAX_CHARS = 20_000_000
#: ... or nests deeper than this.
MAX_DEPTH = 100

#: ``${NAME}``, ``${NAME:-default}``; ``$${`` is a literal ``${``. A lone ``$name``
#: (a SQL parameter) is left alone.
VAR_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class PositionMap:
    """Where each value (and each mapping key) of a loaded document starts."""

    file: str
    values: Mapping[PathT, tuple[int, int]] = field(default_factory=dict)
    keys: Mapping[PathT, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: PathT, *, key: bool = False) -> Location:
        """Location of ``path`` (its key when ``key``), else of the nearest ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while True:
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col)
            if probe in self.values:
                line, col = self.values[probe]
                return Location(self.file, line, col)
            if not probe:
                return Location(self.file)
            probe = probe[:-1]


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    positions: PositionMap


class _Builder:
    def __init__(self, file: str, env: Mapping[str, str] | None) -> None:
        self.file = file
        self.env = env
        self.values: dict[PathT, tuple[int, int]] = {}
        self.keys: dict[PathT, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.chars = 0
        self.constructor = yaml.SafeLoader("")

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.count += 1  # bounded: an alias bomb or a deep nest stops here
        if self.count > MAX_NODES:
            raise ConfigError(
                Problem(
                    f"document expands to more than {MAX_NODES} values",
                    self.loc(node),
                    hint="this usually means nested aliases (&anchor/*alias); write values out",
                )
            )
        if len(path) > MAX_DEPTH:
            raise ConfigError(
                Problem(f"the document nests deeper than {MAX_DEPTH} levels", self.loc(node))
            )
        self.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.build_scalar(node, path)

    def build_mapping(self, node: yaml.MappingNode, path: PathT) -> dict[str, Any]:
        """A mapping; merge keys, complex keys and duplicate keys are problems."""
        out: dict[str, Any] = {}
        first_seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    Problem(
                        "merge keys ('<<') are not supported",
                        self.loc(key_node),
                        format_path(path),
                        "write the keys out, or reuse a whole section by name",
                    )
                )
                continue
            key = self.build_key(key_node, path)
            if key in first_seen:
                prev = first_seen[key]
                self.problems.append(
                    Problem(
                        f"duplicate key '{key}' (first defined at line {prev.start_mark.line + 1})",
                        self.loc(key_node),
                        format_path(path),
                        "remove one of them; YAML would silently keep only the last",
                    )
                )
                continue
            first_seen[key] = key_node
            child = (*path, key)
            self.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, child)
        return out

    def build_scalar(self, node: yaml.ScalarNode, path: PathT) -> Any:
        """A scalar (bounded in total text), with ``${VAR}`` interpolated in strings."""
        self.chars += len(node.value)
        if self.chars > MAX_CHARS:
            raise ConfigError(
                Problem(
                    f"document expands to more than {MAX_CHARS:,} characters of text",
                    self.loc(node),
                    hint="a large value (&anchor) is referenced (*alias) too many times; "
                    "write it once, or keep large data in a data file",
                )
            )
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:  # e.g. a 5,000-digit number
            self.problems.append(
                Problem(
                    f"this value cannot be read: {str(exc)[:120]}",
                    self.loc(node),
                    format_path(path),
                    "quote it to keep it as text",
                )
            )
            return None
        if isinstance(value, str) and node.tag == "tag:yaml.org,2002:str":
            value = self.interpolate(value, node, path)
        return value

    def build_key(self, node: yaml.Node, path: PathT) -> str:
        if not isinstance(node, yaml.ScalarNode):
            self.problems.append(
                Problem("mapping keys must be plain words", self.loc(node), format_path(path))
            )
            return f"<complex key at line {node.start_mark.line + 1}>"
        # A key is its text: YAML 1.1 would read 'on:', 'yes:' and 'no:' as booleans
        # (so 'notify: {on: [failed]}' would have a key True), '0x10:' as 16.
        return str(node.value)

    def interpolate(self, text: str, node: yaml.Node, path: PathT) -> str:
        if self.env is None or "${" not in text:
            return text
        env = self.env

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if _kept_by_name(path):
                # a PDF password: read by name when the PDF is made, never held here
                if default is not None:
                    self.problems.append(
                        Problem(
                            f"a PDF password never has a default in reports.yaml: "
                            f"write ${{{name}}}",
                            self.loc(node),
                            format_path(path),
                            f"set {name} in the environment or the env file",
                        )
                    )
                elif env.get(name, "") == "":
                    self.problems.append(
                        Problem(
                            f"environment variable {name} is not set (the PDF password)",
                            self.loc(node),
                            format_path(path),
                            f"set {name} in the environment or the env file; a password "
                            "never has a default in reports.yaml",
                        )
                    )
                return match.group(0) if default is None else ""
            if SECRET_NAME.search(name) and not _secret_allowed(path):
                self.problems.append(
                    Problem(
                        f"${{{name}}} looks like a secret; secrets are never put into reports, "
                        "emails or manifests",
                        self.loc(node),
                        format_path(path),
                        "only databases.<name>.url may use a secret variable; credentials "
                        "for AWS and SMTP are read from the environment by name",
                    )
                )
                return ""
            if env.get(name, "") != "":
                return env[name]
            if default is not None:
                return default
            self.problems.append(
                Problem(
                    f"environment variable {name} is not set",
                    self.loc(node),
                    format_path(path),
                    f"set {name} in the environment or the env file, "
                    f"or give a default: ${{{name}:-value}}",
                )
            )
            return ""

        return VAR_RE.sub(replace, text)


def _kept_by_name(path: PathT) -> bool:
    """``pdf.encrypt.password`` (the project's or a persona's): its ``${NAME}`` is kept
    as written, to be read when each PDF is made."""
    return tuple(path[-3:]) == ("pdf", "encrypt", "password") and len(path) in (3, 5)


def _secret_allowed(path: PathT) -> bool:
    """Where a credential may be interpolated: a database URL or the ledger's (never
    shown)."""
    return (len(path) == 3 and path[0] == "databases" and path[2] == "url") or tuple(path) == (
        "delivery",
        "ledger",
    )


def _snippet(text: str, line: int, col: int) -> str:
    lines = text.splitlines()
    out = []
    for n in range(max(1, line - 2), min(len(lines), line) + 1):
        out.append(f"    {n:>4} | {lines[n - 1]}")
    out.append("    " + " " * 4 + " | " + " " * max(0, col - 1) + "^")
    return "\n".join(out)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """A YAML syntax error at its line and column, with the lines around it."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    col = mark.column + 1 if mark else None
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem or "\t" in problem:
        message = "tab character used for indentation; YAML requires spaces"
        hint = "replace the tab with spaces (most editors: 'convert indentation to spaces')"
    else:
        message = f"YAML syntax error: {problem}"
        if exc.context:
            message += f" ({exc.context}"
            if (
                exc.context_mark
                and exc.problem_mark
                and (exc.context_mark.line != exc.problem_mark.line)
            ):
                message += f" at line {exc.context_mark.line + 1}"
            message += ")"
        hint = "check the indentation and quoting on this line and the one before"
    if line is not None and col is not None:
        hint += "\n" + _snippet(text, line, col)
    return Problem(message, Location(file, line, col), hint=hint)


def _compose(text: str, file: str) -> yaml.Node | None:
    """The document's node tree (libyaml, or the pure-Python parser for its errors)."""
    try:
        try:
            # libyaml is ~10x faster; its errors are terser, so on an error we parse
            # again with the pure-Python parser for the precise message and position.
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.MarkedYAMLError:
            return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(
            Problem(f"the document nests too deeply (over {MAX_DEPTH} levels)", Location(file))
        ) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_problem(exc, text, file)) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises Marked errors
        raise ConfigError(Problem(f"YAML error: {exc}", Location(file))) from None


def load_yaml(
    text: str, file: str, env: Mapping[str, str] | None = None, *, require_mapping: bool = True
) -> LoadedYaml:
    """Parse ``text`` (named ``file`` in messages) into values plus positions.

    Raises :class:`ConfigError` listing every duplicate key, undefined variable,
    or the syntax error (with numbered context lines).
    """
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise ConfigError(
            Problem(
                "the file is empty",
                Location(file, 1, 1),
                hint="start from the example reports.yaml, or run 'reportc schema' "
                "to see what goes in it",
            )
        )
    node = _compose(text, file)
    if node is None:
        raise ConfigError(Problem("the file is empty", Location(file, 1, 1)))
    builder = _Builder(file, env)
    data = builder.build(node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    if require_mapping and not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({data!r})"
        raise ConfigError(
            Problem(
                f"the top level must be a mapping of keys (project:, sources:, ...), not {kind}",
                Location(file, node.start_mark.line + 1, node.start_mark.column + 1),
            )
        )
    return LoadedYaml(data, PositionMap(file, builder.values, builder.keys))
