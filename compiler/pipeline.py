"""The stages in order: ``validate`` and ``build`` as library calls.

``build`` binds the chosen reports (skipping those whose inputs are unchanged),
then renders each to HTML and makes its PDF (in this process or in warm worker
processes), writing each report's files atomically as soon as they are made so
memory does not grow with the number of reports; the manifest is written last. A
report that fails is recorded with its problems and the others still build. Each
report's rendering and PDF are bounded by ``timeout``. The clock is injected so
tests (and reproducible builds) control "generated at".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .archive import Baselines, wanted_points
from .bind import bind
from .bound import BindResult, BoundReport
from .config.model import Project, frozen_map
from .errors import ReportcError
from .figures import json_value
from .limits import DEFAULT_BUILD_MEMORY_MB
from .logs import get_logger
from .manifest import FileRecord
from .mime import rows_to_csv
from .pdf import FONT_SUBSET_HINT, DataFile, harfbuzz_subset_missing
from .pdfkeys import protection_for
from .plan import (
    BuildPlan,
    BuildResult,
    Clock,
    Progress,
    ReportResult,
    Shard,
    html_digest,
    plan_build,
)
from .render import make_environment, render_report
from .rendered import RenderedReport
from .snapshot import snapshot
from .states import BuildState
from .warmstyles import StyleLog, remember, remembered
from .workbook import workbook
from .workers import PdfDone, PdfPool, PdfTask, run_task, warm_message
from .writer import Writer
from .zygote import Zygote

_log = get_logger("build")


def data_files(report: BoundReport) -> list[DataFile]:
    """The report's bound data: metrics as JSON and each section's rows as CSV."""

    metrics = {
        name: {"value": report.metrics.get(name), "label": spec.label, "format": spec.format}
        for name, spec in sorted(report.metric_specs.items())
        if name in report.metrics
    }
    files = [
        DataFile(
            "metrics.json",
            (json.dumps(json_value(metrics), indent=2, sort_keys=True) + "\n").encode("utf-8"),
            f"Metrics of {report.spec.title}, {report.period.title}",
        )
    ]
    seen: set[str] = set()
    for section in report.sections:
        if section.columns and section.spec.name not in seen:
            seen.add(section.spec.name)
            files.append(
                DataFile(
                    f"{section.spec.name}.csv",
                    rows_to_csv(section.columns, section.rows),
                    f"Rows of the section '{section.spec.title or section.spec.name}'",
                )
            )
    return files


def with_history(
    project: Project,
    bound: BindResult,
    names: Iterable[str],
    baselines: Baselines | None,
    built_at: Callable[[str], dt.datetime],
) -> BindResult:
    """``bound`` with each report's archived baseline/trend points attached."""

    if baselines is None:
        return bound
    reports = dict(bound.reports)
    for name in names:
        if name not in reports:
            continue
        count = wanted_points(reports[name].spec)
        if count:
            points = baselines.points(name, project.period, built_at(name), count)
            reports[name] = dataclasses.replace(reports[name], history=points)
    return dataclasses.replace(bound, reports=frozen_map(reports))


def build(
    project: Project,
    *,
    reports: Sequence[str] | None = None,
    out_dir: Path | str | None = None,
    formats: Iterable[str] = (),
    clock: Clock | None = None,
    progress: Progress | None = None,
    bound: BindResult | None = None,
    only: Iterable[str] | None = None,
    jobs: int = 1,
    force: bool = False,
    shard: Shard | None = None,
    timeout: float | None = 300.0,
    memory_mb: int | None = DEFAULT_BUILD_MEMORY_MB,
    baselines: Baselines | None = None,
    plan: BuildPlan | None = None,
    zygote: Zygote | None = None,
) -> BuildResult:
    """Build the chosen reports into ``out_dir`` (default ``<project>/dist``).

    - Incremental: a persona whose inputs fingerprint matches the manifest (and whose
      files are intact) is not rebuilt, unless ``force`` (see :func:`plan_build`;
      pass its ``plan`` to skip deciding again).
    - ``jobs`` > 1 makes PDFs in that many warm worker processes, each report limited
      by ``timeout`` seconds and ``memory_mb``; with 1, in this process. The workers
      are forked from ``zygote`` if given (started early by the caller, with the same
      ``memory_mb``; the caller stops it), else from one this build starts.
    - Each report's files are written (atomically) as soon as they are made, so memory
      does not grow with the number of reports; the manifest is written last.
    - ``shard`` builds a deterministic share of the reports, with its own manifest.
    - ``bound``/``only`` let ``send`` rebuild just the stale reports of a bind it did.
    - Reports that compare against the archive get their baseline runs from
      ``baselines`` (default: the project's archive).
    """
    if plan is None:
        plan = plan_build(
            project,
            reports=reports,
            out_dir=out_dir,
            formats=formats,
            clock=clock,
            force=force,
            shard=shard,
            baselines=baselines,
            check=only is None,
        )
    if not plan.to_build:
        return plan.finish(project, [], ())
    return _run(project, plan, bound, only, shard, jobs, timeout, memory_mb, progress, zygote)


def _run(
    project: Project,
    plan: BuildPlan,
    bound: BindResult | None,
    only: Iterable[str] | None,
    shard: Shard | None,
    jobs: int,
    timeout: float | None,
    memory_mb: int | None,
    progress: Progress | None,
    zygote: Zygote | None,
) -> BuildResult:
    """Bind what is stale (unless given), then render and lay out each report."""
    to_build = plan.to_build
    pdfs = plan.wants(project, "pdf")
    if pdfs and harfbuzz_subset_missing():  # said once per build
        _log.warning("%s", FONT_SUBSET_HINT)
    pool = own = None
    if jobs > 1 and pdfs:
        # Start the workers first: one zygote imports WeasyPrint while we bind the data,
        # and forks the workers when it is warm (a plain start per worker without it).
        early = zygote is not None and zygote.memory_mb == (memory_mb or None)
        if not early:
            zygote = own = Zygote.start(memory_mb)
        if zygote is not None:  # the last build's stylesheets, warmed before it forks
            zygote.warm(warm_message(project.root, remembered(project)))
        how = "the warm template the command started" if early else "a warm template"
        _log.info("PDFs in %d workers, %s", jobs, f"forked from {how}" if zygote else "started")
        pool = PdfPool(jobs, timeout=timeout, memory_mb=memory_mb, zygote=zygote).start()
    try:
        if bound is None:
            bound = bind(project, to_build, want=shard.owns if shard else None)
        names = _chosen_names(bound, to_build, only, shard)
        if plan.baselines is not None:
            generated = plan.generated
            bound = with_history(project, bound, bound.order, plan.baselines, lambda _: generated)
        results = _make(project, bound, names, plan, progress, pool=pool, timeout=timeout)
    finally:
        if pool is not None:
            pool.__exit__(None, None, None)
        if own is not None:
            own.close()
    return plan.finish(project, results, bound.order)


def _chosen_names(
    bound: BindResult, personas: Sequence[str], only: Iterable[str] | None, shard: Shard | None
) -> list[str]:
    """The bound reports (burst rows too) of these personas, ``only`` and ``shard`` applied."""
    names = [n for n in bound.order if bound.personas.get(n, n) in personas]
    if only is not None:
        wanted = set(only)
        names = [n for n in names if n in wanted]
    if shard is not None:
        names = [n for n in names if shard.owns(n)]
    return names


@dataclass
class _Made:
    """What a report's render left for its PDF's finish: its manifest fields."""

    title: str
    persona: str
    html_sha256: str
    sources: Mapping[str, str]
    email: Mapping[str, Any]
    files: dict[str, FileRecord] = field(default_factory=dict)


class _Maker:
    """Renders the bound reports and makes their PDFs; one per build (its state is the
    build's results so far)."""

    def __init__(
        self,
        project: Project,
        bound: BindResult,
        names: Sequence[str],
        plan: BuildPlan,
        progress: Progress | None,
        timeout: float | None,
    ) -> None:
        self.project, self.bound, self.names, self.plan = project, bound, names, plan
        self.progress, self.timeout = progress, timeout
        self.env = make_environment(project.root)
        self.writer = Writer(plan.out)
        self.when = dt.datetime.combine(project.period.end, dt.time(), dt.timezone.utc)
        self.done: dict[str, ReportResult] = {}
        self.made: dict[str, _Made] = {}
        self.styles = StyleLog()

    def tell(self, event: str, name: str, index: int, detail: str) -> None:
        level = logging.INFO if event != "start" else logging.DEBUG
        _log.log(
            level,
            "[%d/%d] report '%s': %s%s",
            index,
            len(self.names),
            name,
            event,
            f" ({detail})" if detail else "",
            extra={"report": name, "event": event},
        )
        if self.progress:
            self.progress(event, name, index, len(self.names), detail)

    def fail(self, name: str, exc: ReportcError) -> None:
        persona = self.bound.personas.get(name, name)
        title = self.bound.reports[name].spec.title if name in self.bound.reports else name
        inputs = self.plan.inputs.get(persona, "")
        self.done[name] = ReportResult(
            name, title, error=exc, persona=persona, inputs=inputs, state=BuildState.FAILED
        )
        self.tell("failed", name, len(self.done), exc.problems[0].format())

    def tasks(self) -> Iterator[PdfTask]:
        """Render each report (writing its HTML and CSV files); its PDF task if wanted."""
        for index, name in enumerate(self.names, start=1):
            if name in self.bound.failures:
                self.fail(name, self.bound.failures[name])
                continue
            report = self.bound.reports[name]
            self.tell("start", name, index, report.spec.title)
            try:
                rendered = render_report(
                    report,
                    self.project,
                    env=self.env,
                    generated=self.plan.generated,
                    timeout=self.timeout,
                )
            except ReportcError as exc:
                self.fail(name, exc)
                continue
            try:
                self.made[name] = self.write(name, report, rendered)
            except ReportcError as exc:
                self.fail(name, exc)
                continue
            if "pdf" not in report.spec.formats_for(self.plan.formats):
                self.finish(name, None)
                continue
            try:
                protection = protection_for(report.spec, self.project.root, self.project.env)
            except ReportcError as exc:
                self.fail(name, exc)
                continue
            self.styles.add(rendered.html)
            yield PdfTask(
                name=name,
                html=rendered.html,
                project_root=self.project.root,
                target=self.writer.reserve(f"{name}.pdf"),
                options=report.spec.pdf,
                data_files=tuple(data_files(report)) if report.spec.pdf.attach_data else (),
                when=self.when,
                protection=protection,
            )

    def write(self, name: str, report: BoundReport, rendered: RenderedReport) -> _Made:
        """The report's HTML and CSV attachments, written; what its manifest entry needs."""
        spec = report.spec
        made = _Made(
            spec.title,
            spec.persona or name,
            html_digest(rendered.html),
            report.sources_used,
            packaging(self.project, report, rendered),
        )
        formats = spec.formats_for(self.plan.formats)
        if "html" in formats:
            made.files["html"] = self._file(f"{name}.html", rendered.html.encode("utf-8"))
        if "xlsx" in formats:
            made.files["xlsx"] = self._file(f"{name}.xlsx", workbook(report, self.plan.generated))
        made.files.update(_write_attachments(self.writer, name, report))
        return made

    def _file(self, filename: str, data: bytes) -> FileRecord:
        self.writer.write(filename, data)
        return FileRecord(filename, hashlib.sha256(data).hexdigest(), len(data))

    def finish(self, name: str, pdf: PdfDone | None) -> None:
        made = self.made[name]
        if pdf is not None and pdf.error is not None:
            self.fail(name, pdf.error)
            return
        files = dict(made.files)
        if pdf is not None:
            files["pdf"] = FileRecord(f"{name}.pdf", pdf.sha256, pdf.size, pdf.pages)
        self.done[name] = ReportResult(
            name,
            made.title,
            frozen_map(_file_order(files)),
            made.sources,
            refused_urls=pdf.refused_urls if pdf is not None else (),
            html_sha256=made.html_sha256,
            persona=made.persona,
            inputs=self.plan.inputs.get(made.persona, ""),
            state=BuildState.BUILT,
            blocked=self.bound.reports[name].blocked,
            values=frozen_map(snapshot(self.bound.reports[name])),
            email=frozen_map(made.email),
        )
        pages = f"{pdf.pages} page{'s' if pdf.pages != 1 else ''}" if pdf else "html"
        self.tell("done", name, len(self.done), pages)


def _file_order(files: Mapping[str, FileRecord]) -> dict[str, FileRecord]:
    """html, pdf, xlsx, then the CSV attachments (the order the manifest and the CLI show)."""
    first = [k for k in ("html", "pdf", "xlsx") if k in files]
    return {k: files[k] for k in [*first, *(k for k in files if k not in first)]}


def _make(
    project: Project,
    bound: BindResult,
    names: Sequence[str],
    plan: BuildPlan,
    progress: Progress | None,
    *,
    pool: PdfPool | None = None,
    timeout: float | None = 300.0,
) -> list[ReportResult]:
    maker = _Maker(project, bound, names, plan, progress, timeout)
    if pool is not None:
        for result in pool.run(maker.tasks()):
            maker.finish(result.name, result)
    else:
        # The bound data, templates and libraries stay alive for the whole build: keep
        # the collector from re-scanning them after every page laid out (~10% faster).
        gc.collect()
        gc.freeze()
        try:
            for task in maker.tasks():
                maker.finish(task.name, run_task(task, timeout))
        finally:
            gc.unfreeze()
    remember(project, maker.styles.styles)  # for the next parallel build's workers
    return [maker.done[n] for n in names if n in maker.done]


def packaging(project: Project, report: BoundReport, rendered: RenderedReport) -> dict[str, Any]:
    """What ``send`` needs of a built report without binding or rendering it again."""
    spec = report.spec
    persona_alerts = project.personas[spec.persona or spec.name].alerts
    return {
        "title": spec.title,
        "subtitle": spec.subtitle,
        "lang": rendered.lang,
        "summary": json_value(rendered.summary),
        "alerts": [i for i, a in enumerate(persona_alerts) if a in report.alerts],
        "recipients": {
            "to": list(spec.recipients.to),
            "cc": list(spec.recipients.cc),
            "bcc": list(spec.recipients.bcc),
        },
    }


def attachment_csvs(report: BoundReport) -> dict[str, bytes]:
    """The CSV attachments of a report's email, by section (formulas defused)."""
    rows = {s.spec.name: s for s in report.sections}
    out: dict[str, bytes] = {}
    for att in report.spec.attachments:
        if att.format == "xlsx":  # the workbook: written as the report's xlsx
            continue
        section = rows.get(att.section)
        out[att.section] = rows_to_csv(
            section.columns if section else (), section.rows if section else ()
        )
    return out


def _write_attachments(writer: Writer, name: str, report: BoundReport) -> dict[str, FileRecord]:
    """Write the CSV attachments beside the report; their records for the manifest."""
    out: dict[str, FileRecord] = {}
    for section, data in attachment_csvs(report).items():
        filename = f"{name}.{section}.csv"
        writer.write(filename, data)
        out[f"csv:{section}"] = FileRecord(filename, hashlib.sha256(data).hexdigest(), len(data))
    return out
