"""Bind stage: sources -> metrics -> one :class:`BoundReport` per report.

Every source is loaded once per build into one in-process DuckDB database (no
matter how many reports use it), then metrics are computed in dependency order.
File sources are loaded first; after that the database is locked down (no
file system or network access) before any user SQL runs. A source or metric
that fails marks only the reports that need it as failed; the others bind.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from . import expr as expr_lang
from .config.loader import dependency_graph, sql_dependencies
from .config.model import MetricSpec, Period, Project, ReportSpec, SectionSpec, frozen_map
from .config.yamlpos import PositionMap
from .errors import DataError, Location, Problem, ReportcError
from .formatting import FORMATS
from .sources import FILE_TYPES, LOADERS, SourceContext
from .sources.sql import duck_message, query_params


@dataclass(frozen=True)
class BoundSection:
    spec: SectionSpec
    rows: tuple[Mapping[str, Any], ...] = ()
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoundReport:
    """Everything rendering needs for one report; plain data only."""

    spec: ReportSpec
    period: Period
    organisation: str
    entities: tuple[str, ...]
    metrics: Mapping[str, Any]
    metric_specs: Mapping[str, MetricSpec]
    sections: tuple[BoundSection, ...]
    sources_used: Mapping[str, str] = field(default_factory=frozen_map)
    report_titles: Mapping[str, str] = field(default_factory=frozen_map)
    #: Folders of the project's font files (charts measure text with them).
    font_dirs: tuple[Path, ...] = ()
    #: Where each key of reports.yaml is, so later stages can point at it.
    positions: PositionMap = field(default_factory=lambda: PositionMap("reports.yaml"))


@dataclass(frozen=True)
class BindResult:
    reports: Mapping[str, BoundReport]
    failures: Mapping[str, ReportcError]
    fingerprints: Mapping[str, str]
    #: Every source or metric that failed, used by a chosen report or not.
    node_failures: Mapping[str, ReportcError] = field(default_factory=frozen_map)
    #: Sources in the order they were loaded (each once).
    loaded: tuple[str, ...] = ()


@cache
def _introspection_env() -> SandboxedEnvironment:
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


def _closure(start: Iterable[str], graph: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def _order(graph: Mapping[str, list[str]], nodes: set[str]) -> list[str]:
    out: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        done.add(node)
        for dep in graph.get(node, ()):
            visit(dep)
        out.append(node)

    for node in sorted(nodes):
        visit(node)
    return out


def plain(value: Any) -> Any:
    """DuckDB values as template-friendly Python values (Decimal kept for money)."""
    if isinstance(value, (str, int, float, Decimal, bool, dt.date)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


class Workspace:
    """One DuckDB database holding every loaded source for one build."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.con = duckdb.connect(
            ":memory:",
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
        )
        self.con.execute("SET allowed_directories = ?", [[str(project.root) + os.sep]])
        self.con.execute("SET enable_external_access = false")
        self.values: dict[str, Any] = dict(project.period.params())
        self.fingerprints: dict[str, str] = {}
        self.failures: dict[str, ReportcError] = {}
        self.loaded: list[str] = []

    def close(self) -> None:
        self.con.close()

    def at(self, *path: str) -> Location:
        return self.project.positions.at(path)

    def display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project.root))
        except ValueError:
            return str(path)

    def load(self, nodes: set[str], graph: Mapping[str, list[str]]) -> None:
        order = _order(graph, nodes)
        # Files first (they depend on nothing), then SQL and metrics in order.
        order.sort(key=lambda n: 0 if self._is_file(n) else 1)
        for node in order:
            failed = [d for d in graph.get(node, ()) if d in self.failures]
            if failed:
                self.failures[node] = self.failures[failed[0]]
                continue
            try:
                if node in self.project.sources:
                    self._load_source(node, graph)
                else:
                    self._compute_metric(self.project.metrics[node])
            except ReportcError as exc:
                self.failures[node] = exc

    def _is_file(self, node: str) -> bool:
        src = self.project.sources.get(node)
        return src is not None and (src.type in FILE_TYPES or src.type == "inline")

    def _load_source(self, name: str, graph: Mapping[str, list[str]]) -> None:
        spec = self.project.sources[name]
        deps = {d: self.fingerprints[d] for d in graph.get(name, ()) if d in self.fingerprints}
        ctx = SourceContext(self.display, self.values, deps, self.at)
        self.fingerprints[name] = LOADERS[spec.type](spec, self.con, ctx)
        self.loaded.append(name)

    def _compute_metric(self, spec: MetricSpec) -> None:
        where = f"metrics.{spec.name}"
        if spec.sql is not None:
            sql = spec.sql.strip().rstrip(";")
            try:
                cur = self.con.execute(sql, query_params(sql, self.values))
                rows = cur.fetchall()
                width = len(cur.description or ())
            except Exception as exc:
                raise DataError(
                    Problem(
                        f"query failed: {duck_message(exc)}",
                        self.at("metrics", spec.name, "sql"),
                        where + ".sql",
                    )
                ) from None
            if width != 1 or len(rows) > 1:
                raise DataError(
                    Problem(
                        f"a metric query must return one value; this one returned "
                        f"{len(rows)} row(s) of {width} column(s)",
                        self.at("metrics", spec.name, "sql"),
                        where + ".sql",
                        hint="aggregate (sum, avg, count ...) and select a single column",
                    )
                )
            value = plain(rows[0][0]) if rows else None
        else:
            assert spec.expr is not None
            try:
                value = expr_lang.parse(spec.expr).evaluate(self.values)
            except expr_lang.ExprError as exc:
                raise DataError(
                    Problem(
                        f"cannot compute: {exc}",
                        self.at("metrics", spec.name, "expr"),
                        where + ".expr",
                        hint="guard it, e.g. 'a / b if b else None'",
                    )
                ) from None
        self.values[spec.name] = value
        self.fingerprints[spec.name] = repr(value)

    def section_rows(self, report: ReportSpec, section: SectionSpec) -> BoundSection:
        opts = section.options
        if "source" in opts:
            sql = f'SELECT * FROM "{opts["source"]}"'
            if opts.get("where"):
                sql += f" WHERE {opts['where']}"
            if opts.get("order_by"):
                sql += f" ORDER BY {opts['order_by']}"
            if opts.get("limit"):
                sql += f" LIMIT {int(opts['limit'])}"
        elif "query" in opts:
            sql = str(opts["query"]).strip().rstrip(";")
        else:
            return BoundSection(section)
        try:
            cur = self.con.execute(sql, query_params(sql, self.values))
            columns = tuple(d[0] for d in cur.description or ())
            rows = tuple(
                {c: plain(v) for c, v in zip(columns, row, strict=True)} for row in cur.fetchall()
            )
        except Exception as exc:
            key = "query" if "query" in opts else "source"
            raise DataError(
                Problem(
                    f"report '{report.name}', section '{section.name}': query failed: "
                    f"{duck_message(exc)}",
                    self.at("sections", section.name, key),
                    f"sections.{section.name}.{key}",
                )
            ) from None
        return BoundSection(section, rows, columns)


def bind(project: Project, reports: Iterable[str] | None = None) -> BindResult:
    """Load what the chosen reports need and bind each; failures are per report."""
    chosen = list(reports) if reports is not None else list(project.reports)
    names = set(project.sources) | set(project.metrics)
    graph = dependency_graph(project.sources, project.metrics)
    needs: dict[str, set[str]] = {}
    for rname in chosen:
        direct: set[str] = set()
        for section in project.reports[rname].sections:
            direct |= section_needs(section, names)
        needs[rname] = _closure(direct, graph)
    # Every metric is computed (templates may show any of them); sources only if used.
    wanted = set().union(*needs.values()) if needs else set()
    wanted = _closure(wanted | set(project.metrics), graph)
    ws = Workspace(project)
    try:
        ws.load(wanted, graph)
        bound: dict[str, BoundReport] = {}
        failures: dict[str, ReportcError] = {}
        titles = frozen_map({n: r.title for n, r in project.reports.items()})
        for rname in chosen:
            spec = project.reports[rname]
            missing = sorted(n for n in needs[rname] if n in ws.failures)
            if missing:
                problems: list[Problem] = []
                for n in missing:
                    for p in ws.failures[n].problems:
                        if p not in problems:
                            problems.append(p)
                failures[rname] = DataError(problems)
                continue
            try:
                sections = tuple(ws.section_rows(spec, s) for s in spec.sections)
            except ReportcError as exc:
                failures[rname] = exc
                continue
            bound[rname] = BoundReport(
                spec=spec,
                period=project.period,
                organisation=project.organisation,
                entities=project.entities,
                metrics=frozen_map({k: v for k, v in ws.values.items() if k in project.metrics}),
                metric_specs=project.metrics,
                sections=sections,
                sources_used=frozen_map(
                    {n: ws.fingerprints[n] for n in sorted(needs[rname]) if n in project.sources}
                ),
                report_titles=titles,
                positions=project.positions,
                font_dirs=tuple(sorted({(project.root / f.path).parent for f in spec.theme.fonts})),
            )
        return BindResult(
            frozen_map(bound),
            frozen_map(failures),
            frozen_map(ws.fingerprints),
            frozen_map(ws.failures),
            tuple(ws.loaded),
        )
    finally:
        ws.close()


def data_problems(result: BindResult) -> list[Problem]:
    """Every distinct problem of every failed source, metric or report."""
    out: list[Problem] = []
    for exc in [*result.node_failures.values(), *result.failures.values()]:
        for p in exc.problems:
            if p not in out:
                out.append(p)
    return out


__all__ = ["BindResult", "BoundReport", "BoundSection", "bind", "data_problems"]
