"""The dependency graph of a project, built once at load and kept on the project.

Nodes are the sources and metrics; an edge says what a node needs (the tables a
query names, the metrics it takes as parameters or an expression uses). Everything
that asks "what does this depend on" asks here: the load-time cycle check, binding
(which nodes a report needs, in which order, which depend on a burst row), the
incremental fingerprint and the archive's "which metrics does a report show".

What a section needs is found without binding (and a narrative is parsed only
when it names a source or metric as a word, so Jinja is often not imported at all:
a no-change build stays fast). This module imports no other part of reportc but
the SQL and expression readers; spec objects are read by their shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from . import expr as expr_lang
from .formatting import FORMATS
from .section_types import behaviour
from .sqlrefs import sql_identifiers, sql_params

#: the prefix of the ``$row_<column>`` parameters a burst row binds
ROW_PREFIX = "row_"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Queryable(Protocol):
    @property
    def query(self) -> str | None: ...

    @property
    def database(self) -> str: ...


class _Metric(Protocol):
    @property
    def sql(self) -> str | None: ...

    @property
    def expr(self) -> str | None: ...

    @property
    def database(self) -> str: ...


def sql_dependencies(
    sql: str,
    names: set[str],
    own: str | None = None,
    *,
    external: bool = False,
    metrics: Iterable[str] | None = None,
) -> list[str]:
    """What a query needs: tables it names and metrics it takes as parameters.

    A query run in an external database sees none of our tables, only parameters.
    """
    refs = set(sql_params(sql)) & (set(metrics) if external and metrics is not None else names)
    if not external:
        refs |= sql_identifiers(sql) & names
    return sorted(refs - ({own} if own else set()))


@dataclass(frozen=True)
class DependencyGraph:
    """Node -> the nodes it needs (sorted), and which nodes depend on a burst row."""

    edges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sources: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()
    row_nodes: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        sources: Mapping[str, _Queryable],
        metrics: Mapping[str, _Metric],
        exprs: Mapping[str, expr_lang.Expression] | None = None,
    ) -> DependencyGraph:
        names = set(sources) | set(metrics)
        edges: dict[str, tuple[str, ...]] = {}
        direct_row: set[str] = set()
        for name, src in sources.items():
            edges[name] = tuple(
                sql_dependencies(
                    src.query, names, name, external=bool(src.database), metrics=metrics
                )
                if src.query
                else ()
            )
            if src.query and _uses_row(src.query):
                direct_row.add(name)
        for name, metric in metrics.items():
            edges[name] = _metric_edges(name, metric, names, metrics, exprs)
            if metric.sql and _uses_row(metric.sql):
                direct_row.add(name)
        graph = cls(edges, frozenset(sources), frozenset(metrics))
        return cls(edges, graph.sources, graph.metrics, frozenset(graph.dependents(direct_row)))

    @property
    def names(self) -> set[str]:
        return set(self.sources) | set(self.metrics)

    def closure(self, start: Iterable[str]) -> set[str]:
        """``start`` and everything it depends on."""
        seen: set[str] = set()
        todo = list(start)
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(self.edges.get(node, ()))
        return seen

    def dependents(self, start: Iterable[str]) -> set[str]:
        """``start`` and everything that depends on it, directly or through others."""
        out = set(start)
        changed = True
        while changed:
            changed = False
            for node, deps in self.edges.items():
                if node not in out and any(d in out for d in deps):
                    out.add(node)
                    changed = True
        return out

    def order(self, nodes: Iterable[str]) -> list[str]:
        """``nodes`` and their dependencies, each after what it needs (stable order)."""
        out: list[str] = []
        done: set[str] = set()

        def visit(node: str) -> None:
            if node in done:
                return
            done.add(node)
            for dep in self.edges.get(node, ()):
                visit(dep)
            out.append(node)

        for node in sorted(nodes):
            visit(node)
        return out

    def cycle(self) -> list[str] | None:
        """One dependency cycle (its nodes in order), or None."""
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            stack.append(node)
            for dep in self.edges.get(node, ()):
                if state.get(dep) == 1:
                    return stack[stack.index(dep) :]
                if dep not in state:
                    found = visit(dep)
                    if found:
                        return found
            stack.pop()
            state[node] = 2
            return None

        for node in sorted(self.edges):
            if node not in state:
                found = visit(node)
                if found:
                    return found
        return None

    def section_needs(self, section: Any, among: set[str] | None = None) -> set[str]:
        """The sources and metrics (of ``among``, default all) a section names directly."""
        return section_needs(section, self.names if among is None else among)

    def report_needs(self, report: Any) -> set[str]:
        """Every source and metric a report needs: its sections, its rows, their inputs."""
        direct: set[str] = set()
        for section in report.sections:
            direct |= self.section_needs(section)
        if report.for_each is not None:
            if report.for_each.source:
                direct.add(report.for_each.source)
            if report.for_each.query:
                direct |= set(sql_dependencies(report.for_each.query, self.names))
        return self.closure(direct)


def section_needs(section: Any, names: set[str]) -> set[str]:
    """Which of ``names`` a section (a SectionSpec) names directly: its source, the tables
    of its query, the names its texts use, and what its type's own options name."""
    opts = section.options
    needs: set[str] = set()
    if "source" in opts:
        needs.add(opts["source"])
    if "query" in opts:
        needs |= set(sql_dependencies(opts["query"], names))
    kind = behaviour(section.type)
    if kind is not None:
        needs |= kind.needs(opts)
    for key in ("text", "intro", "note"):
        if isinstance(opts.get(key), str):
            needs |= _text_names(opts[key], names)
    return needs & names


def _uses_row(sql: str) -> bool:
    return any(p.startswith(ROW_PREFIX) for p in sql_params(sql))


def _metric_edges(
    name: str,
    metric: _Metric,
    names: set[str],
    metrics: Iterable[str],
    exprs: Mapping[str, expr_lang.Expression] | None,
) -> tuple[str, ...]:
    if metric.sql is not None:
        found = sql_dependencies(
            metric.sql, names, name, external=bool(metric.database), metrics=metrics
        )
        return tuple(found)
    if metric.expr is None:
        return ()
    parsed = (exprs or {}).get(name)
    if parsed is None:
        try:
            parsed = expr_lang.parse(metric.expr)
        except expr_lang.ExprError:
            return ()
    return tuple(sorted(n for n in parsed.names if n in names))


@cache
def _introspection_env() -> Any:
    env = SandboxedEnvironment()
    for kind in FORMATS:
        env.filters[kind] = str
    return env


def _text_names(text: str, names: set[str]) -> set[str]:
    """Which of ``names`` a narrative text uses; parsed only when one appears as a word."""
    candidates = set(_WORD.findall(text)) & names
    if not candidates:
        return set()
    try:
        found = set(meta.find_undeclared_variables(_introspection_env().parse(text)))
    except Exception:
        return set()  # a syntax error is reported, with its position, when rendering
    return found & candidates
