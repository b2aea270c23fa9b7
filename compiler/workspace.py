"""The DuckDB workspace of one build: every loaded source as a table, every computed
metric as a value, each query bounded in time and confined to the declared files.

Locked down at start: external access off, ``allowed_paths`` = the declared data files,
a memory limit below the process cap, then ``lock_configuration`` so no SQL can undo it.
A watchdog thread interrupts a query that runs past ``REPORTC_QUERY_TIMEOUT``."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import expr as expr_lang
from .bound import BoundSection
from .config.model import (
    MetricSpec,
    Project,
    ReportSpec,
    SectionSpec,
)
from .errors import DataError, Location, Problem, ReportcError
from .limits import memory_budget
from .sources import FILE_TYPES, LOADERS, SourceContext, external
from .sources.sql import duck_message, one_value, query_params
from .sqlrefs import checked_select
from .writer import project_digests


def plain(value: Any) -> Any:
    """DuckDB values as template-friendly Python values (Decimal kept for money)."""
    if isinstance(value, (str, int, float, Decimal, bool, dt.date)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


@dataclass(frozen=True)
class Fetched:
    """A query's column descriptions and all its rows."""

    description: tuple[Any, ...]
    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


#: seconds one query may run (REPORTC_QUERY_TIMEOUT overrides)
QUERY_SECONDS = 300.0


#: how often the watchdog looks at the running query
WATCH_INTERVAL = 0.2


def read_once(project: Project) -> frozenset[str]:
    """The CSV sources that one plain metric reads and nothing else does (no other
    source or metric, no section, no burst row, no check): DuckDB reads those lazily
    (a view: only the columns and rows the query needs) instead of into a table."""
    graph = project.graph
    users: dict[str, list[str]] = {}
    for node, deps in graph.edges.items():
        for dep in deps:
            users.setdefault(dep, []).append(node)
    direct: set[str] = set()
    for report in project.personas.values():
        for section in report.sections:
            direct |= graph.section_needs(section)
        if report.for_each is not None and report.for_each.source:
            direct.add(report.for_each.source)
        if report.for_each is not None and report.for_each.query:
            return frozenset()  # rows from a query: whatever it reads, read it once
    once = set()
    for name, spec in project.sources.items():
        reader = users.get(name, [])
        if (
            spec.type == "csv"
            and not spec.checks
            and name not in direct
            and len(reader) == 1
            and reader[0] in graph.metrics
            and reader[0] not in graph.row_nodes
        ):
            once.add(name)
    return frozenset(once)


class Workspace:
    """One DuckDB database holding every loaded source for one build."""

    def __init__(self, project: Project) -> None:
        import duckdb  # imported here: a no-change build never opens a database

        self.project = project
        self._deadline: float | None = None
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()
        env_limit = os.environ.get("REPORTC_QUERY_TIMEOUT", "")
        self.query_seconds = (
            float(env_limit) if env_limit.replace(".", "", 1).isdigit() else (QUERY_SECONDS)
        )
        self.con = duckdb.connect(
            ":memory:",
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
        )
        # DuckDB may read the declared data files and nothing else: not the env file,
        # .reportc/, .git/, dist/ or reports.yaml. Locked, so no SQL can undo it.
        self.files = {
            str(spec.path.relative_to(project.root)): str(spec.path)
            for spec in project.sources.values()
            if spec.path is not None and spec.path.is_relative_to(project.root)
        }
        self.con.execute("SET allowed_paths = ?", [sorted(self.files.values())])
        self.con.execute("SET enable_progress_bar = false")
        budget = memory_budget()
        if budget:  # DuckDB fails a query cleanly at its own limit, before the process cap
            self.con.execute(f"SET memory_limit = '{max(budget // 2, 64 << 20)}B'")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")
        self.values: dict[str, Any] = dict(project.period.params())
        self.fingerprints: dict[str, str] = {}
        self.failures: dict[str, ReportcError] = {}
        self.loaded: list[str] = []
        self.engines: dict[str, Any] = {}
        self.check_failures: dict[str, list[str]] = {}
        self.digests = project_digests(project.root, project.delivery.state_dir)
        self.lazy = read_once(project)
        #: each SQL text once checked, as it is run (see sqlrefs.checked_select)
        self._checked: dict[str, str] = {}

    def close(self) -> None:
        self.digests.save()
        self._closed.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        self.con.close()
        for eng in self.engines.values():
            eng.dispose()

    def scalar(self, sql: str) -> Any:
        row = self.execute(sql).fetchone()
        return row[0] if row else None

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Fetched:
        """Run one project SQL text: a single read-only SELECT, declared files only,
        stopped after ``query_seconds``; the rows are fetched within that limit."""
        checked = self._checked.get(sql)
        if checked is None:  # (a burst runs one text for every row)
            checked = self._checked[sql] = checked_select(sql, self.files, self.con)
        with self.deadline():
            cur = self.con.execute(checked, params)
            return Fetched(tuple(cur.description or ()), cur.fetchall())

    @contextlib.contextmanager
    def deadline(self) -> Iterator[None]:
        """Interrupt DuckDB (from the watchdog thread) if the work takes too long."""
        self._deadline = time.monotonic() + self.query_seconds
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, daemon=True)
            self._watchdog.start()
        try:
            yield
        finally:
            self._deadline = None

    def _watch(self) -> None:
        while not self._closed.wait(WATCH_INTERVAL):
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                self._deadline = None
                self.con.interrupt()

    def engine(self, name: str) -> Any:
        """One SQLAlchemy engine per external database per build."""
        if name not in self.engines:
            self.engines[name] = external.engine(self.project.databases[name])
        return self.engines[name]

    def at(self, *path: str) -> Location:
        return self.project.positions.at(path)

    def display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project.root))
        except ValueError:
            return str(path)

    def load(self, nodes: set[str]) -> None:
        order = self.project.graph.order(nodes)
        # Files first (they depend on nothing), then SQL and metrics in order.
        order.sort(key=lambda n: 0 if self._is_file(n) else 1)
        self.load_nodes(order)

    def load_nodes(self, order: Sequence[str]) -> None:
        """Load sources and compute metrics in the given (dependency) order."""
        edges = self.project.graph.edges
        for node in order:
            failed = [d for d in edges.get(node, ()) if d in self.failures]
            if failed:
                self.failures[node] = self.failures[failed[0]]
                continue
            try:
                if node in self.project.sources:
                    self._load_source(node)
                else:
                    self._compute_metric(self.project.metrics[node])
            except ReportcError as exc:
                self.failures[node] = exc

    def _is_file(self, node: str) -> bool:
        src = self.project.sources.get(node)
        return src is not None and (src.type in FILE_TYPES or src.type == "inline")

    def _load_source(self, name: str) -> None:
        spec = self.project.sources[name]
        if spec.database:
            assert spec.query is not None
            self.fingerprints[name] = external.load_source(
                self.engine(spec.database),
                self.con,
                name,
                spec.query.strip().rstrip(";"),
                self.values,
                spec.types,
                self.at("sources", name, "query"),
                f"sources.{name}.query",
            )
            self.loaded.append(name)
            return
        with self.deadline():
            self.fingerprints[name] = LOADERS[spec.type](spec, self.con, self._context(name))
        self.loaded.append(name)

    def _context(self, name: str) -> SourceContext:
        """What source ``name``'s loader needs: the fingerprints of the sources it reads,
        remembered file digests, and whether to read it lazily."""
        edges = self.project.graph.edges
        deps = {d: self.fingerprints[d] for d in edges.get(name, ()) if d in self.fingerprints}
        return SourceContext(
            self.display,
            self.values,
            deps,
            self.at,
            self.files,
            digest=self.digests.sha256,
            lazy=name in self.lazy,
        )

    def _explain_lazy(self, metric: str) -> None:
        """A query over a lazily read source failed: read that source strictly, into a
        table, so a bad value in the file is reported at its line and column."""
        for name in self.project.graph.edges.get(metric, ()):
            if name in self.lazy:
                self.lazy = self.lazy - {name}
                spec = self.project.sources[name]
                with self.deadline():  # a table now: read strictly, every value
                    LOADERS[spec.type](spec, self.con, self._context(name))

    def _compute_metric(self, spec: MetricSpec) -> None:
        where = f"metrics.{spec.name}"
        if spec.sql is not None and spec.database:
            value, _ = external.run_metric(
                self.engine(spec.database),
                spec.sql.strip().rstrip(";"),
                self.values,
                self.at("metrics", spec.name, "sql"),
                where + ".sql",
            )
            value = plain(value)
        elif spec.sql is not None:
            sql = spec.sql.strip().rstrip(";")
            try:
                cur = self.execute(sql, query_params(sql, self.values))
                rows = cur.fetchall()
                width = len(cur.description or ())
            except Exception as exc:
                self._explain_lazy(spec.name)  # the file's own error, if the file is why
                raise DataError(
                    Problem(
                        f"query failed: {duck_message(exc)}",
                        self.at("metrics", spec.name, "sql"),
                        where + ".sql",
                    )
                ) from None
            value = plain(
                one_value(rows, width, self.at("metrics", spec.name, "sql"), where + ".sql")
            )
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
            cur = self.execute(sql, query_params(sql, self.values))
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
