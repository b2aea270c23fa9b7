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

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import expr as expr_lang
from .bound import BindResult, BoundReport
from .burst import RowTexts, burst_rows, check_row_fields, instance_name
from .config.model import (
    AlertSpec,
    Project,
    ReportSpec,
    frozen_map,
)
from .errors import DataError, Problem, ReportcError
from .graph import ROW_PREFIX
from .quality import blocked_by, run_checks
from .workspace import Workspace


def _fires(alert: AlertSpec, values: Mapping[str, Any]) -> bool:
    """Whether an alert's condition holds; a missing value never fires it."""
    try:
        return bool(expr_lang.parse(alert.when).evaluate(values))
    except expr_lang.ExprLimit:
        raise
    except (expr_lang.ExprError, KeyError, TypeError):
        return False


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
        self.needs = {r: project.graph.report_needs(project.personas[r]) for r in chosen}
        self.ws = Workspace(project)
        self.bound: dict[str, BoundReport] = {}
        self.failures: dict[str, ReportcError] = {}
        self.order: list[str] = []
        self.persona_of: dict[str, str] = {}
        self.titles: dict[str, str] = {n: r.title for n, r in project.personas.items()}
        self.texts = RowTexts()

    def run(self) -> BindResult:
        wanted = set().union(*self.needs.values()) if self.needs else set()
        wanted = self.graph.closure(wanted | set(self.project.metrics)) - self.rowdep
        try:
            self.ws.load(wanted)
            run_checks(self.ws, wanted)
            global_values = dict(self.ws.values)
            for rname in self.chosen:
                spec = self.project.personas[rname]
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
            blocked=blocked_by(
                self.needs[spec.persona or spec.name],
                self.ws.check_failures,
                sections,
                project.period.end,
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

    def _bind_burst(self, spec: ReportSpec, global_values: Mapping[str, Any]) -> None:
        assert spec.for_each is not None
        persona = spec.name
        try:
            columns, rows = burst_rows(self.ws, spec)
            check_row_fields(self.project, spec, self.needs[persona], columns)
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
                name, derived = self.texts.instance(spec, row, context)
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
            self._bind_row(name, persona, derived, row, global_values, rowdep_needed)
        self.ws.values = dict(global_values)

    def _bind_row(
        self,
        name: str,
        persona: str,
        derived: ReportSpec,
        row: Mapping[str, Any],
        global_values: Mapping[str, Any],
        rowdep_needed: Sequence[str],
    ) -> None:
        """One row's report: its own sources and metrics, on top of the global values."""
        self._add(name, persona)
        self.titles[name] = derived.title
        self.ws.values = {**global_values, **{ROW_PREFIX + k: v for k, v in row.items()}}
        for node in rowdep_needed:
            self.ws.failures.pop(node, None)
        self.ws.load_nodes(rowdep_needed)
        run_checks(self.ws, rowdep_needed)
        failed = self._failed_needs(set(rowdep_needed))
        if failed is not None:
            self.failures[name] = failed
            return
        self._finish(derived, name)

    def _taken(self, name: str, persona: str, key_value: Any) -> DataError | None:
        """A row's report name that is already another persona's or another report's."""
        other = self.persona_of.get(name) or (name if name in self.project.personas else None)
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
    chosen = list(reports) if reports is not None else list(project.personas)
    return _Binder(project, chosen, want, sink).run()


def data_problems(result: BindResult) -> list[Problem]:
    """Every distinct problem of every failed source, metric or report."""
    out: list[Problem] = []
    for exc in [*result.node_failures.values(), *result.failures.values()]:
        for p in exc.problems:
            if p not in out:
                out.append(p)
    return out


__all__ = ["bind", "data_problems"]
