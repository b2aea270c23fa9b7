"""Checking what a project file means, beyond its schema: names resolve (with "did you
mean"), data files exist inside the project and are not private, metric expressions and
SQL parse, sections name real sources, and sources and metrics form no cycle. Each check
adds every problem it finds to a :class:`Checker`; nothing stops at the first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import expr as expr_lang
from ..errors import Problem, did_you_mean, format_path
from ..graph import ROW_PREFIX, DependencyGraph
from ..section_types import BUILTIN_TYPES, section_type
from ..sqlrefs import sql_params
from .model import (
    MetricSpec,
    SectionSpec,
    SourceSpec,
    frozen_map,
)
from .schema import schema_problems, section_schema, section_template_paths
from .yamlpos import LoadedYaml, PathT

PERIOD_PARAMS = frozenset({"period", "period_start", "period_end"})


#: Burst reports pass each row's columns as ``$row_<column>``.


class Checker:
    def __init__(self, root: Path, loaded: LoadedYaml, trusted: bool = False) -> None:
        self.root = root
        self.data: dict[str, Any] = loaded.data
        self.pos = loaded.positions
        self.problems: list[Problem] = []
        #: This very document passed the schema and schedule checks before (see
        #: :func:`_validation_key`): those two pure checks are skipped.
        self.trusted = trusted

    def add(self, message: str, path: PathT, hint: str = "", *, key: bool = False) -> None:
        self.problems.append(Problem(message, self.pos.at(path, key=key), format_path(path), hint))

    def section(self, name: str) -> dict[str, Any]:
        value: dict[str, Any] = self.data.get("sections", {}).get(name, {})
        return value


def check_sources(c: Checker) -> dict[str, SourceSpec]:
    out: dict[str, SourceSpec] = {}
    for name, spec in c.data.get("sources", {}).items():
        path_key: PathT = ("sources", name)
        file_path: Path | None = None
        if "path" in spec:
            file_path = check_file(c, spec["path"], (*path_key, "path"))
        out[name] = SourceSpec(
            name=name,
            type=spec["type"],
            location=c.pos.at(path_key, key=True),
            path=file_path,
            records=spec.get("records"),
            query=spec.get("query"),
            rows=tuple(spec.get("rows", ())),
            types=frozen_map(spec.get("types")),
            delimiter=spec.get("delimiter", ","),
            encoding=spec.get("encoding", "utf-8"),
            description=spec.get("description", ""),
            database=spec.get("database", ""),
            checks=frozen_map(spec.get("checks")),
        )
    return out


def _private(root: Path, path: Path) -> str:
    """Why a project path is off limits to data, fonts and logos ('' if it is not)."""
    parts = path.relative_to(root).parts
    if not parts:
        return "the project folder"
    if any(p.startswith(".") for p in parts):
        return "hidden (state, version control or secrets)"
    if parts[0] == "dist":
        return "in dist/, the output folder"
    if path.name.endswith(".env") or (path.suffix in (".yaml", ".yml") and len(parts) == 1):
        return "project configuration or an env file"
    return ""


def check_file(c: Checker, rel: str, path: PathT, what: str = "data file") -> Path | None:
    if "://" in rel:
        c.add(f"'{rel}' is a URL; sources read files inside the project", path)
        return None
    candidate = (c.root / rel).resolve()
    if not candidate.is_relative_to(c.root):
        c.add(
            f"'{rel}' is outside the project folder",
            path,
            f"{what}s must live inside the project (e.g. under data/ or assets/)",
        )
        return None
    private = _private(c.root, candidate)
    if private:
        c.add(
            f"'{rel}' is {private}; reportc never reads it as {what}",
            path,
            "data files go under data/, fonts and logos under assets/",
        )
        return None
    if not candidate.is_file():
        near = ""
        if candidate.parent.is_dir():
            near = did_you_mean(candidate.name, [p.name for p in candidate.parent.iterdir()])
        c.add(f"{what} '{rel}' not found{near}", path)
        return None
    return candidate


def check_metrics(c: Checker) -> tuple[dict[str, MetricSpec], dict[str, expr_lang.Expression]]:
    out: dict[str, MetricSpec] = {}
    exprs: dict[str, expr_lang.Expression] = {}
    sources = c.data.get("sources", {})
    for name, spec in c.data.get("metrics", {}).items():
        path: PathT = ("metrics", name)
        if name in sources:
            c.add(
                f"'{name}' is both a source and a metric; names must be unique",
                path,
                key=True,
            )
        has_sql, has_expr = "sql" in spec, "expr" in spec
        if has_sql == has_expr:
            c.add("a metric needs exactly one of 'sql' or 'expr'", path)
        if has_expr:
            try:
                exprs[name] = expr_lang.parse(str(spec["expr"]))
            except expr_lang.ExprError as exc:
                c.add(str(exc), (*path, "expr"))
        out[name] = MetricSpec(
            name=name,
            location=c.pos.at(path, key=True),
            sql=spec.get("sql"),
            expr=str(spec["expr"]) if has_expr else None,
            label=spec.get("label", name.replace("_", " ").capitalize()),
            description=spec.get("description", ""),
            format=spec.get("format", "number"),
            decimals=spec.get("decimals"),
            unit=spec.get("unit", ""),
            database=spec.get("database", ""),
            checks=frozen_map(spec.get("checks")),
        )
    return out, exprs


def check_row_feed(
    c: Checker,
    spec: Mapping[str, Any],
    path: PathT,
    sources: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> None:
    """Where rows come from (a section's or a burst's): a known source, or valid SQL."""
    if "source" in spec and spec["source"] not in sources:
        c.add(
            f"unknown source '{spec['source']}'{did_you_mean(spec['source'], sources)}",
            (*path, "source"),
        )
    if "query" in spec:
        check_sql(c, spec["query"], (*path, "query"), metrics)


def check_sql(c: Checker, sql: str, path: PathT, metrics: Mapping[str, Any]) -> None:
    allowed = set(metrics) | PERIOD_PARAMS
    for param in sorted(sql_params(sql)):
        if param not in allowed and not param.startswith(ROW_PREFIX):
            c.add(
                f"unknown parameter '${param}'{did_you_mean(param, allowed)}",
                path,
                "parameters are $period, $period_start, $period_end, metric names and, "
                "in burst reports, $row_<column>",
            )


def check_sections(
    c: Checker, sources: Mapping[str, SourceSpec], metrics: Mapping[str, MetricSpec]
) -> dict[str, SectionSpec]:
    out: dict[str, SectionSpec] = {}
    for name, spec in c.data.get("sections", {}).items():
        path: PathT = ("sections", name)
        if check_section_options(c, spec, path, sources, metrics):
            out[name] = SectionSpec(name, spec["type"], c.pos.at(path, key=True), frozen_map(spec))
    return out


def _unknown_type(c: Checker, type_name: str, path: PathT) -> None:
    known = set(BUILTIN_TYPES)
    if (c.root / "sections").is_dir():
        known |= {p.name.removesuffix(".html.j2") for p in (c.root / "sections").glob("*.html.j2")}
    c.add(
        f"unknown section type '{type_name}'{did_you_mean(type_name, known)}",
        (*path, "type"),
        "built-in types: "
        + ", ".join(BUILTIN_TYPES)
        + "; or add sections/"
        + type_name
        + ".html.j2 to the project, or install a plugin that adds it "
        + "(entry point group reportc.section_types)",
    )


def check_section_options(
    c: Checker,
    spec: Mapping[str, Any],
    path: PathT,
    sources: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> bool:
    """Validate a section's options; ``path`` is where they (or the override) stand."""
    type_name = spec["type"]
    template, fragment = section_template_paths(c.root, type_name)
    if template is None:
        _unknown_type(c, type_name, path)
        return False
    before = len(c.problems)
    if not c.trusted:
        c.problems.extend(schema_problems(section_schema(fragment), dict(spec), c.pos, path))
    if len(c.problems) > before:
        return False
    if "source" in spec and "query" in spec:
        c.add("give either 'source' or 'query', not both", path)
    check_row_feed(c, spec, path, sources, metrics)
    kind = section_type(type_name, c.root)
    for message, below in kind.check(spec, metrics) if kind is not None else ():
        c.add(message, (*path, *below))
    return True


def section_refs(c: Checker) -> Iterable[tuple[str, PathT, Any]]:
    for pname, persona in c.data.get("personas", {}).items():
        for i, ref in enumerate(persona.get("sections", ())):
            yield pname, ("personas", pname, "sections", i), ref


def check_graph(
    c: Checker,
    sources: Mapping[str, SourceSpec],
    metrics: Mapping[str, MetricSpec],
    exprs: Mapping[str, expr_lang.Expression],
) -> DependencyGraph:
    """References inside SQL and expressions, and cycles among sources and metrics;
    the project's dependency graph."""
    for name, src in sources.items():
        if src.query is not None:
            check_sql(c, src.query, ("sources", name, "query"), metrics)
    for name, metric in metrics.items():
        if metric.sql is not None:
            check_sql(c, metric.sql, ("metrics", name, "sql"), metrics)
        if name in exprs:
            for ref in sorted(exprs[name].names):
                if ref not in metrics:
                    c.add(
                        f"unknown metric '{ref}'{did_you_mean(ref, metrics)}",
                        ("metrics", name, "expr"),
                    )
    graph = DependencyGraph.build(sources, metrics, exprs)
    cycle = graph.cycle()
    if cycle:
        first = cycle[0]
        kind = "metrics" if first in metrics else "sources"
        c.add(
            "dependency cycle: " + " -> ".join([*cycle, first]),
            (kind, first),
            "a metric or query cannot depend on itself, directly or through others",
            key=True,
        )
    return graph
