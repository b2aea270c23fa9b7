"""Bind stage: sources -> metrics -> one :class:`BoundReport` per report.

Every source is loaded once per build into one in-process DuckDB database (no
matter how many reports use it), then metrics are computed in dependency order.
The database is locked down from the start: it may read the declared data files
and nothing else, its configuration cannot be changed, and each project SQL text
must be one read-only SELECT (:meth:`Workspace.execute`), interrupted by a watchdog
after ``REPORTC_QUERY_TIMEOUT``. A source or metric that fails marks only the
reports that need it as failed; the others bind. A burst persona binds one report
per row; with ``sink`` each is handed over as it is made instead of kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

from . import expr as expr_lang
from .addresses import address_problem
from .config.model import (
    AlertSpec,
    MetricSpec,
    Period,
    Point,
    Project,
    Recipients,
    ReportSpec,
    SectionSpec,
    frozen_map,
)
from .config.yamlpos import PositionMap
from .errors import DataError, Location, Problem, ReportcError, did_you_mean
from .formatting import as_date
from .graph import ROW_PREFIX
from .limits import TimeLimitExceeded, memory_budget, time_limit
from .sandbox import BoundedSandbox
from .sources import FILE_TYPES, LOADERS, SourceContext, external
from .sources.sql import duck_message, one_value, query_params
from .sqlrefs import checked_select, sql_params


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
    #: Where rendered charts are cached by content (None: no cache).
    cache_dir: Path | None = None
    #: Failed quality checks of the sources and metrics this report uses: it is blocked.
    blocked: tuple[str, ...] = ()
    #: The report's alert rules that fire on this data.
    alerts: tuple[AlertSpec, ...] = ()
    #: The organisation's legal name (default: its name), on the cover and the last page.
    legal_name: str = ""
    #: Where each key of reports.yaml is, so later stages can point at it.
    positions: PositionMap = field(default_factory=lambda: PositionMap("reports.yaml"))
    #: Archived runs to compare against, oldest first (``compare: archive``, ``trend``).
    history: tuple[Point, ...] = ()


@dataclass(frozen=True)
class BindResult:
    reports: Mapping[str, BoundReport]
    failures: Mapping[str, ReportcError]
    fingerprints: Mapping[str, str]
    #: Every source or metric that failed, used by a chosen report or not.
    node_failures: Mapping[str, ReportcError] = field(default_factory=frozen_map)
    #: Sources in the order they were loaded (each once, or once per row for $row_ ones).
    loaded: tuple[str, ...] = ()
    #: Every report (burst instances included) in build order, failed ones too.
    order: tuple[str, ...] = ()
    #: Report name -> the persona it comes from (itself, unless burst).
    personas: Mapping[str, str] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class RowStats:
    """What the row checks need to know about a table: measured by SQL or in Python."""

    count: int
    nulls: Mapping[str, int] = field(default_factory=frozen_map)
    newest: dt.date | None = None
    out_of_range: int = 0


def check_verdicts(
    label: str, checks: Mapping[str, Any], stats: RowStats, period_end: dt.date
) -> list[str]:
    """The failed row checks (min/max rows, not null, freshness, range), as sentences."""
    out: list[str] = []
    if "min_rows" in checks and stats.count < checks["min_rows"]:
        out.append(f"{label} has {stats.count} rows, fewer than {checks['min_rows']}")
    if "max_rows" in checks and stats.count > checks["max_rows"]:
        out.append(f"{label} has {stats.count} rows, more than {checks['max_rows']}")
    for col in checks.get("not_null", ()):
        if stats.nulls.get(col):
            out.append(f"{label}: {stats.nulls[col]} rows have no '{col}'")
    if "freshness" in checks:
        col, days = checks["freshness"]["column"], checks["freshness"]["max_age_days"]
        newest = stats.newest
        if newest is None or (period_end - newest).days > days:
            out.append(
                f"{label}: newest '{col}' is {newest or 'missing'}, more than {days} days "
                f"before the period end {period_end}"
            )
    if "range" in checks and stats.out_of_range:
        rule = checks["range"]
        out.append(
            f"{label}: {stats.out_of_range} rows have '{rule['column']}' outside "
            f"[{rule.get('min', '')}, {rule.get('max', '')}]"
        )
    return out


def row_checks(
    label: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    checks: Mapping[str, Any],
    period_end: dt.date,
) -> list[str]:
    """A section's quality checks, over the rows it shows (the same rules as a source's)."""
    named = [*checks.get("not_null", ())]
    named += [checks[k]["column"] for k in ("freshness", "range") if k in checks]
    missing = [c for c in named if columns and c not in columns]
    if missing:
        return [
            f"{label}: a check names column '{c}'{did_you_mean(c, columns)}, which the "
            "rows do not have"
            for c in dict.fromkeys(missing)
        ]
    newest = None
    if "freshness" in checks:
        col = checks["freshness"]["column"]
        dates = [d for d in (as_date(r.get(col)) for r in rows) if d is not None]
        newest = max(dates) if dates else None
    bad = 0
    if "range" in checks:
        col, lo, hi = (
            checks["range"]["column"],
            checks["range"].get("min"),
            checks["range"].get("max"),
        )
        for r in rows:
            value = r.get(col)
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
                continue
            if (lo is not None and float(value) < float(lo)) or (
                hi is not None and float(value) > float(hi)
            ):
                bad += 1
    stats = RowStats(
        count=len(rows),
        nulls={c: sum(1 for r in rows if r.get(c) is None) for c in checks.get("not_null", ())},
        newest=newest,
        out_of_range=bad,
    )
    return check_verdicts(label, checks, stats, period_end)


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

    def close(self) -> None:
        self._closed.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        self.con.close()
        for eng in self.engines.values():
            eng.dispose()

    def run_checks(self, nodes: Iterable[str]) -> None:
        """Evaluate the quality checks of loaded sources and computed metrics."""
        for node in nodes:
            if node in self.failures:
                continue
            failed: list[str] = []
            if node in self.project.sources:
                spec = self.project.sources[node]
                if spec.checks:
                    failed = self._source_checks(node, spec.checks)
            elif node in self.project.metrics and self.project.metrics[node].checks:
                failed = self._metric_checks(node, self.project.metrics[node].checks)
            if failed:
                self.check_failures[node] = failed
            else:
                self.check_failures.pop(node, None)

    def _scalar(self, sql: str) -> Any:
        row = self.execute(sql).fetchone()
        return row[0] if row else None

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Fetched:
        """Run one project SQL text: a single read-only SELECT, declared files only,
        stopped after ``query_seconds``; the rows are fetched within that limit."""
        checked = checked_select(sql, self.files)
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

    def _source_checks(self, name: str, checks: Mapping[str, Any]) -> list[str]:
        table = f'"{name}"'
        try:
            nulls = {
                col: self._scalar(f'SELECT count(*) FROM {table} WHERE "{col}" IS NULL')
                for col in checks.get("not_null", ())
            }
            newest = None
            if "freshness" in checks:
                col = checks["freshness"]["column"]
                newest = self._scalar(f'SELECT max("{col}")::DATE FROM {table}')
            bad = 0
            if "range" in checks:
                rule = checks["range"]
                col = rule["column"]
                conds = []
                if "min" in rule:
                    conds.append(f'"{col}" < {float(rule["min"])}')
                if "max" in rule:
                    conds.append(f'"{col}" > {float(rule["max"])}')
                if conds:
                    bad = self._scalar(f"SELECT count(*) FROM {table} WHERE {' OR '.join(conds)}")
            stats = RowStats(
                count=self._scalar(f"SELECT count(*) FROM {table}"),
                nulls=nulls,
                newest=newest,
                out_of_range=bad or 0,
            )
        except Exception as exc:
            return [f"source '{name}': a check could not run: {duck_message(exc)}"]
        return check_verdicts(f"source '{name}'", checks, stats, self.project.period.end)

    def _metric_checks(self, name: str, checks: Mapping[str, Any]) -> list[str]:
        value = self.values.get(name)
        number = float(value) if isinstance(value, (int, float, Decimal)) else None
        out = []
        if ("min" in checks or "max" in checks) and number is None:
            out.append(f"metric '{name}' has no value")
        if number is not None and "min" in checks and number < float(checks["min"]):
            out.append(f"metric '{name}' is {value}, below {checks['min']}")
        if number is not None and "max" in checks and number > float(checks["max"]):
            out.append(f"metric '{name}' is {value}, above {checks['max']}")
        if "equals" in checks:
            other = checks["equals"]["metric"]
            tolerance = float(checks["equals"].get("tolerance", 0))
            theirs = self.values.get(other)
            if (
                number is None
                or not isinstance(theirs, (int, float, Decimal))
                or abs(number - float(theirs)) > tolerance
            ):
                out.append(
                    f"metric '{name}' ({value}) does not reconcile with '{other}' "
                    f"({theirs}), tolerance {tolerance:g}"
                )
        return out

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
        edges = self.project.graph.edges
        deps = {d: self.fingerprints[d] for d in edges.get(name, ()) if d in self.fingerprints}
        ctx = SourceContext(self.display, self.values, deps, self.at, self.files)
        with self.deadline():
            self.fingerprints[name] = LOADERS[spec.type](spec, self.con, ctx)
        self.loaded.append(name)

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


def _fires(alert: AlertSpec, values: Mapping[str, Any]) -> bool:
    """Whether an alert's condition holds; a missing value never fires it."""
    try:
        return bool(expr_lang.parse(alert.when).evaluate(values))
    except expr_lang.ExprLimit:
        raise
    except (expr_lang.ExprError, KeyError, TypeError):
        return False


_ROW_FIELD_RE = re.compile(r"\brow\.([A-Za-z_][A-Za-z0-9_]*)|\brow\[['\"]([^'\"]+)['\"]\]")


def _row_fields_used(spec: ReportSpec, project: Project, needs: set[str]) -> dict[str, str]:
    """Row columns a burst report uses -> where (for 'no such column' messages)."""
    used: dict[str, str] = {}
    texts = [
        ("title", spec.title),
        ("subtitle", spec.subtitle),
        ("prepared_for", spec.prepared_for),
        ("filename", spec.filename),
    ]
    for kind in ("to", "cc", "bcc"):
        texts += [(f"recipients.{kind}", a) for a in getattr(spec.recipients, kind)]
    for section in spec.sections:
        for key in ("text", "intro", "note", "title"):
            value = section.options.get(key)
            if isinstance(value, str):
                texts.append((f"sections.{section.name}.{key}", value))
        if isinstance(section.options.get("query"), str):
            for p in sql_params(section.options["query"]):
                if p.startswith(ROW_PREFIX):
                    used.setdefault(p[len(ROW_PREFIX) :], f"sections.{section.name}.query")
    for where, text in texts:
        for a, b in _ROW_FIELD_RE.findall(text):
            used.setdefault(a or b, where)
    for node in needs:
        sql = project.sources[node].query if node in project.sources else project.metrics[node].sql
        for p in sql_params(sql or ""):
            if p.startswith(ROW_PREFIX):
                kind = "sources" if node in project.sources else "metrics"
                used.setdefault(p[len(ROW_PREFIX) :], f"{kind}.{node}")
    return used


_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def instance_name(text: str) -> str:
    """A file-system-safe report name: letters, digits, '.', '_' and '-'."""
    return _SAFE_NAME_RE.sub("-", text).strip("-.")[:120]


#: seconds a title, file name or recipient template may take for one row
TEXT_SECONDS = 30.0


class _Binder:
    """Binds each chosen report (and each row of a burst report) in one workspace."""

    def __init__(
        self,
        project: Project,
        chosen: list[str],
        want: Callable[[str], bool] | None = None,
        sink: Callable[[str, BoundReport], None] | None = None,
    ) -> None:
        self.project = project
        self.chosen = chosen
        self.want = want
        self.sink = sink
        self.names = set(project.sources) | set(project.metrics)
        self.graph = project.graph
        self.rowdep = set(project.graph.row_nodes)
        self.needs = {r: project.graph.report_needs(project.reports[r]) for r in chosen}
        self.ws = Workspace(project)
        self.bound: dict[str, BoundReport] = {}
        self.failures: dict[str, ReportcError] = {}
        self.order: list[str] = []
        self.persona_of: dict[str, str] = {}
        self.titles: dict[str, str] = {n: r.title for n, r in project.reports.items()}
        self.text_env = BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False)

    def run(self) -> BindResult:
        wanted = set().union(*self.needs.values()) if self.needs else set()
        wanted = self.graph.closure(wanted | set(self.project.metrics)) - self.rowdep
        try:
            self.ws.load(wanted)
            self.ws.run_checks(wanted)
            global_values = dict(self.ws.values)
            for rname in self.chosen:
                spec = self.project.reports[rname]
                failed = self._failed_needs(self.needs[rname] - self.rowdep)
                if failed is not None:
                    self._add(rname, rname)
                    self.failures[rname] = failed
                    continue
                if spec.for_each is None:
                    self._bind_single(spec)
                else:
                    self._bind_burst(spec, global_values)
            return BindResult(
                frozen_map(self.bound),
                frozen_map(self.failures),
                frozen_map(self.ws.fingerprints),
                frozen_map(self.ws.failures),
                tuple(self.ws.loaded),
                tuple(self.order),
                frozen_map(self.persona_of),
            )
        finally:
            self.ws.close()

    def _add(self, name: str, persona: str) -> None:
        self.order.append(name)
        self.persona_of[name] = persona

    def _failed_needs(self, needs: set[str]) -> ReportcError | None:
        missing = sorted(n for n in needs if n in self.ws.failures)
        if not missing:
            return None
        problems: list[Problem] = []
        for n in missing:
            problems.extend(p for p in self.ws.failures[n].problems if p not in problems)
        return DataError(problems)

    def _bind_single(self, spec: ReportSpec) -> None:
        name = spec.name
        self._add(name, name)
        uses_row = sorted(self.needs[name] & self.rowdep)
        if uses_row:
            self.failures[name] = DataError(
                Problem(
                    f"report '{name}' uses {', '.join(uses_row)}, which need $row_ parameters, "
                    "but the report has no for_each",
                    spec.location,
                    f"personas.{name}",
                    hint="add for_each to the report, or remove the $row_ parameters",
                )
            )
            return
        self._finish(spec, name)

    def _finish(self, spec: ReportSpec, name: str) -> None:
        try:
            sections = tuple(self.ws.section_rows(spec, s) for s in spec.sections)
            alerts = self._alerts(spec)
        except ReportcError as exc:
            self.failures[name] = exc
            return
        project = self.project
        report = BoundReport(
            spec=spec,
            period=project.period,
            organisation=project.organisation,
            legal_name=project.legal_name or project.organisation,
            entities=project.entities,
            metrics=frozen_map({k: v for k, v in self.ws.values.items() if k in project.metrics}),
            metric_specs=project.metrics,
            sections=sections,
            sources_used=frozen_map(
                {
                    n: self.ws.fingerprints[n]
                    for n in sorted(self.needs[spec.persona or spec.name])
                    if n in project.sources and n in self.ws.fingerprints
                }
            ),
            report_titles=frozen_map(self.titles),
            positions=project.positions,
            font_dirs=tuple(sorted({(project.root / f.path).parent for f in spec.theme.fonts})),
            cache_dir=project.root / project.delivery.state_dir / "cache" / "charts",
            alerts=alerts,
            blocked=tuple(
                reason
                for node in sorted(self.needs[spec.persona or spec.name])
                for reason in self.ws.check_failures.get(node, ())
            )
            + tuple(
                reason
                for s in sections
                if s.spec.options.get("checks")
                for reason in row_checks(
                    f"section '{s.spec.name}'",
                    s.rows,
                    s.columns,
                    s.spec.options["checks"],
                    project.period.end,
                )
            ),
        )
        if self.sink is not None:
            self.sink(name, report)  # streamed: the caller renders it and lets it go
        else:
            self.bound[name] = report

    def _alerts(self, spec: ReportSpec) -> tuple[AlertSpec, ...]:
        """The alerts that fire; one asking for an impossible value is an error."""
        fired = []
        for i, alert in enumerate(spec.alerts):
            try:
                if _fires(alert, self.ws.values):
                    fired.append(alert)
            except expr_lang.ExprLimit as exc:
                persona = spec.persona or spec.name
                raise DataError(
                    Problem(
                        f"report '{spec.name}': alert 'when' cannot be evaluated: {exc}",
                        self.project.positions.at(("personas", persona, "alerts", i, "when")),
                        f"personas.{persona}.alerts[{i}].when",
                    )
                ) from None
        return tuple(fired)

    def _rows(self, spec: ReportSpec) -> tuple[list[str], list[dict[str, Any]]]:
        fe = spec.for_each
        assert fe is not None
        sql = f'SELECT * FROM "{fe.source}"' if fe.source else fe.query.strip().rstrip(";")
        key = "source" if fe.source else "query"
        try:
            cur = self.ws.execute(sql, query_params(sql, self.ws.values))
            columns = [d[0] for d in cur.description or ()]
            rows = [dict(zip(columns, (plain(v) for v in r), strict=True)) for r in cur.fetchall()]
        except Exception as exc:
            raise DataError(
                Problem(
                    f"report '{spec.name}': for_each query failed: {duck_message(exc)}",
                    self.ws.at("personas", spec.name, "for_each", key),
                    f"personas.{spec.name}.for_each.{key}",
                )
            ) from None
        return columns, rows

    def _bind_burst(self, spec: ReportSpec, global_values: Mapping[str, Any]) -> None:
        assert spec.for_each is not None
        persona = spec.name
        try:
            columns, rows = self._rows(spec)
            self._check_row_fields(spec, columns)
        except ReportcError as exc:
            self._add(persona, persona)
            self.failures[persona] = exc
            return
        # Only what depends on the row is computed per row; its other inputs (the files
        # and queries it reads) were loaded once, before the first row.
        rowdep_needed = [
            n for n in self.graph.order(self.needs[persona] & self.rowdep) if n in self.rowdep
        ]
        seen: dict[str, Any] = {}
        for row in rows:
            key_value = row.get(spec.for_each.key)
            context = {
                "row": row,
                "report": {"name": persona, "title": spec.title},
                "period": self.project.period.params(),
            }
            try:
                name, derived = self._instance(spec, row, context)
            except ReportcError as exc:
                name = instance_name(f"{persona}-{key_value}")
                self._add(name, persona)
                self.failures[name] = exc
                continue
            if name in seen:
                self.failures[name] = DataError(
                    Problem(
                        f"report '{persona}': rows {seen[name]!r} and {key_value!r} both give the "
                        f"report name '{name}'",
                        spec.location,
                        f"personas.{persona}.filename",
                        hint="make 'filename' (or the for_each key) unique per row",
                    )
                )
                continue
            if self.want is not None and not self.want(name):
                continue  # another shard's row: not even its own data is computed
            taken = self._taken(name, persona, key_value)
            if taken is not None:
                label = instance_name(f"{persona}-row-{key_value}")
                self._add(label, persona)
                self.failures[label] = taken
                continue
            seen[name] = key_value
            self._add(name, persona)
            self.titles[name] = derived.title
            # Reset to the global values, then compute this row's own sources and metrics.
            self.ws.values = {**global_values, **{ROW_PREFIX + k: v for k, v in row.items()}}
            for node in rowdep_needed:
                self.ws.failures.pop(node, None)
            self.ws.load_nodes(rowdep_needed)
            self.ws.run_checks(rowdep_needed)
            failed = self._failed_needs(set(rowdep_needed))
            if failed is not None:
                self.failures[name] = failed
                continue
            self._finish(derived, name)
        self.ws.values = dict(global_values)

    def _taken(self, name: str, persona: str, key_value: Any) -> DataError | None:
        """A row's report name that is already another persona's or another report's."""
        other = self.persona_of.get(name) or (name if name in self.project.reports else None)
        if other is None or (other == persona and name == persona):
            return None
        what = f"the persona '{other}'" if name == other else f"a report of persona '{other}'"
        return DataError(
            Problem(
                f"report '{persona}': row {key_value!r} gives the report name '{name}', which is "
                f"already {what}",
                self.ws.at("personas", persona, "filename"),
                f"personas.{persona}.filename",
                hint="make 'filename' give names no other persona uses, e.g. "
                f"'{persona}-{{{{ row.<key> }}}}'",
            )
        )

    def _check_row_fields(self, spec: ReportSpec, columns: list[str]) -> None:
        assert spec.for_each is not None
        used = _row_fields_used(spec, self.project, self.needs[spec.name])
        used.setdefault(spec.for_each.key, "for_each.key")
        problems = [
            Problem(
                f"report '{spec.name}': no column '{col}' in the for_each rows"
                f"{did_you_mean(col, columns)} (used in {where}); columns are: "
                f"{', '.join(columns)}",
                spec.location,
                f"personas.{spec.name}",
            )
            for col, where in sorted(used.items())
            if col not in columns
        ]
        if problems:
            raise DataError(problems)

    def _text(self, template: str, context: Mapping[str, Any], spec: ReportSpec, what: str) -> str:
        if "{{" not in template and "{%" not in template:
            return template
        try:
            with time_limit(TEXT_SECONDS, f"report '{spec.name}': {what}"):
                return self.text_env.from_string(template).render(context).strip()
        except (
            jinja2.TemplateError,
            ArithmeticError,
            ValueError,
            TypeError,
            TimeLimitExceeded,
        ) as exc:
            raise DataError(
                Problem(
                    f"report '{spec.name}': {what}: {exc}",
                    spec.location,
                    f"personas.{spec.name}.{what}",
                )
            ) from None

    def _instance(
        self, spec: ReportSpec, row: Mapping[str, Any], context: Mapping[str, Any]
    ) -> tuple[str, ReportSpec]:
        assert spec.for_each is not None
        default = f"{spec.name}-{{{{ row.{spec.for_each.key} }}}}"
        name = instance_name(self._text(spec.filename or default, context, spec, "filename"))
        if not name:
            raise DataError(
                Problem(
                    f"report '{spec.name}': the file name is empty for row "
                    f"{row.get(spec.for_each.key)!r}",
                    spec.location,
                )
            )
        recipients = {}
        for kind in ("to", "cc", "bcc"):
            addrs = []
            for addr in getattr(spec.recipients, kind):
                value = self._text(addr, context, spec, f"recipients.{kind}")
                if not value:
                    continue
                problem = address_problem(value)
                if problem:
                    raise DataError(
                        Problem(
                            f"report '{name}' (row {row.get(spec.for_each.key)!r}): "
                            f"{kind} address: {problem}",
                            spec.location,
                            f"personas.{spec.name}.recipients.{kind}",
                        )
                    )
                addrs.append(value)
            recipients[kind] = tuple(addrs)
        derived = dataclasses.replace(
            spec,
            name=name,
            title=self._text(spec.title, context, spec, "title"),
            subtitle=self._text(spec.subtitle, context, spec, "subtitle"),
            prepared_for=self._text(spec.prepared_for, context, spec, "prepared_for"),
            recipients=Recipients(**recipients),
            persona=spec.name,
            row=frozen_map(row),
        )
        return name, derived


def bind(
    project: Project,
    reports: Iterable[str] | None = None,
    *,
    want: Callable[[str], bool] | None = None,
    sink: Callable[[str, BoundReport], None] | None = None,
) -> BindResult:
    """Load what the chosen reports need and bind each; failures are per report.

    A burst report (``for_each``) yields one bound report per row, named by its
    ``filename`` template; ``BindResult.order`` lists every report name in order.
    ``want`` skips rows by report name before their data is computed (a shard);
    with ``sink``, each bound report is handed over as soon as it is made instead of
    being kept, so memory does not grow with the number of rows.
    """
    chosen = list(reports) if reports is not None else list(project.reports)
    return _Binder(project, chosen, want, sink).run()


def data_problems(result: BindResult) -> list[Problem]:
    """Every distinct problem of every failed source, metric or report."""
    out: list[Problem] = []
    for exc in [*result.node_failures.values(), *result.failures.values()]:
        for p in exc.problems:
            if p not in out:
                out.append(p)
    return out


__all__ = ["BindResult", "BoundReport", "BoundSection", "bind", "data_problems"]
