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

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config.model import Project, frozen_map
from .errors import (
    BuildFailed,
    ConfigError,
    DataError,
    Location,
    Problem,
    RenderError,
    ReportcError,
)
from .figures import json_value
from .manifest import FileRecord, Manifest, ReportEntry, ReportState, read_manifest
from .mime import rows_to_csv
from .writer import Writer

if TYPE_CHECKING:  # the heavy stages are imported where used: a no-change build skips them
    from .archive import Baselines
    from .bind import BindResult, BoundReport
    from .pdf import DataFile

FORMATS = ("html", "pdf")
MANIFEST = "manifest.json"
Clock = Callable[[], dt.datetime]
#: progress(event, report, index, total, detail); events: start, done, failed.
Progress = Callable[[str, str, int, int, str], None]


def data_files(report: BoundReport) -> list[DataFile]:
    """The report's bound data: metrics as JSON and each section's rows as CSV."""
    from .mime import rows_to_csv
    from .pdf import DataFile

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


def default_clock(project: Project) -> Clock:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) if set, else the wall clock."""
    epoch = project.env.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        fixed = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
        return lambda: fixed
    return utc_now


def reportc_version() -> str:
    try:
        return metadata.version("reportc")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+source"


def default_jobs() -> int:
    """The CPUs this process may use (the default number of PDF workers)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class ReportResult:
    name: str
    title: str
    files: Mapping[str, FileRecord] = field(default_factory=frozen_map)
    sources: Mapping[str, str] = field(default_factory=frozen_map)
    error: ReportcError | None = None
    refused_urls: tuple[str, ...] = ()
    html_sha256: str = ""
    persona: str = ""
    inputs: str = ""
    #: built | unchanged (incremental: not rebuilt) | failed
    state: str = "built"
    #: Failed quality checks: the report was built but must not be sent.
    blocked: tuple[str, ...] = ()
    #: The report's figures (metrics and KPI cards), for the archive and send_if.
    values: Mapping[str, Any] = field(default_factory=frozen_map)
    #: What packaging its email needs (see :func:`packaging`).
    email: Mapping[str, Any] = field(default_factory=frozen_map)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def values_sha256(self) -> str:
        from .archive import values_digest

        return values_digest(dict(self.values))


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    period: str
    reports: tuple[ReportResult, ...]
    manifest: Path | None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    @property
    def failed(self) -> tuple[ReportResult, ...]:
        return tuple(r for r in self.reports if not r.ok)

    def raise_for_failures(self, allow_failed_checks: bool = False) -> None:
        problems: list[Problem] = []
        for r in self.failed:
            assert r.error is not None
            problems.extend(r.error.problems)
        if not allow_failed_checks:
            for r in self.reports:
                problems.extend(
                    Problem(
                        f"report '{r.name}' is blocked: {why}",
                        hint="fix the data, or override with --allow-failed-checks",
                    )
                    for why in r.blocked
                )
        if problems:
            raise BuildFailed(problems)


def output_dir(project: Project, out_dir: Path | str | None) -> Path:
    out = Path(out_dir) if out_dir is not None else project.root / "dist"
    return out if out.is_absolute() else project.root / out


def html_digest(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def choose_reports(project: Project, names: Sequence[str] | None) -> list[str]:
    """The reports to build, in project order; unknown names are a config error."""
    if not names:
        return list(project.reports)
    unknown = [n for n in names if n not in project.reports]
    if unknown:
        from .errors import did_you_mean

        raise ConfigError(
            [
                Problem(
                    f"no persona '{n}'{did_you_mean(n, project.reports)}",
                    Location("--persona"),
                    hint="personas: " + ", ".join(project.reports),
                )
                for n in unknown
            ]
        )
    wanted = set(names)
    return [n for n in project.reports if n in wanted]


def validate(
    project: Project, reports: Sequence[str] | None = None, clock: Clock | None = None
) -> None:
    """Bind and render (no PDF, no writes); raise with every data/template problem."""
    from .bind import bind, data_problems
    from .render import make_environment, render_report

    chosen = choose_reports(project, reports)
    env = make_environment(project.root)
    rendering: list[Problem] = []
    data: list[Problem] = []
    when = (clock or default_clock(project))()

    def render(name: str, bound: BoundReport) -> None:
        # Streamed: each report (every burst row's too) is rendered as it is bound and
        # then dropped, so validating 100,000 rows takes the memory of one.
        try:
            render_report(bound, project, env=env, generated=when)
        except DataError as exc:
            data.extend(p for p in exc.problems if p not in data)
        except ReportcError as exc:
            rendering.extend(p for p in exc.problems if p not in rendering)

    result = bind(project, chosen, sink=render)
    data[:0] = [p for p in data_problems(result) if p not in data]
    if data:
        raise DataError(data + rendering)
    if rendering:
        raise RenderError(rendering)


@dataclass(frozen=True)
class Shard:
    """``--shard I/N``: this machine builds the reports whose name hashes to I of N."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"'{text}' is not a shard; use I/N, e.g. 2/4") from None
        if not (n >= 1 and 1 <= i <= n):
            raise ValueError(f"'{text}' is not a shard; I must be between 1 and N")
        return cls(i, n)

    def owns(self, name: str) -> bool:
        digest = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:12], 16)
        return digest % self.count == self.index - 1

    @property
    def manifest(self) -> str:
        return f"manifest.shard-{self.index}-of-{self.count}.json"


def manifest_entries(path: Path) -> dict[str, ReportEntry]:
    """The per-report entries of a manifest file ({} if missing or unreadable)."""
    return dict(read_manifest(path).reports)


def merged_manifest(out: Path) -> dict[str, ReportEntry]:
    """The report entries of ``manifest.json`` and every shard's manifest, merged."""
    merged: dict[str, ReportEntry] = {}
    for path in sorted(out.glob("manifest*.json")):
        for name, entry in manifest_entries(path).items():
            if entry.built or name not in merged:
                merged[name] = entry
    return merged


def project_baselines(project: Project, names: Iterable[str]) -> Baselines | None:
    """The archive's baselines, if any of these reports compares against it."""
    from .archive import Baselines, open_store, wanted_points

    if project.archive is None or not any(wanted_points(project.reports[n]) for n in names):
        return None
    return Baselines(open_store(project), project.archive.compare)


def with_history(
    project: Project,
    bound: BindResult,
    names: Iterable[str],
    baselines: Baselines | None,
    built_at: Callable[[str], dt.datetime],
) -> BindResult:
    """``bound`` with each report's archived baseline/trend points attached."""
    import dataclasses

    from .archive import wanted_points

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


def intact(out: Path, entry: ReportEntry) -> bool:
    """The entry's files are there and have the recorded size (a cheap check)."""
    if not entry.files:
        return False
    for record in entry.files.values():
        path = out / record.path
        if not path.is_file() or path.stat().st_size != record.bytes:
            return False
    return True


def up_to_date(
    out: Path,
    entries: Mapping[str, ReportEntry],
    persona: str,
    inputs: str,
    *,
    blocked_too: bool = False,
    partial: bool = False,
) -> list[str]:
    """Names of the persona's reports if all are built from these inputs, else [].

    A report blocked by a failed check counts as up to date only with ``blocked_too``
    (``send`` reports it as blocked; ``build`` builds it again). With ``partial``, the
    reports that are up to date even when some others of the persona are not (right
    after a build in which some rows failed)."""
    states = (ReportState.OK, ReportState.BLOCKED) if blocked_too else (ReportState.OK,)
    mine = {n: e for n, e in entries.items() if (e.persona or n) == persona}
    good = sorted(
        n
        for n, e in mine.items()
        if e.state in states and e.inputs_sha256 == inputs and intact(out, e)
    )
    return good if partial or len(good) == len(mine) else []


def report_inputs(
    project: Project,
    personas: Sequence[str],
    formats: Sequence[str],
    generated: dt.datetime,
    baselines: Baselines | None,
) -> dict[str, str]:
    """Each persona's inputs fingerprint (config, data files, templates, versions, and
    the archived baseline it compares against): equal fingerprints, equal reports."""
    from .incremental import Fingerprinter

    fingerprints = Fingerprinter(project, formats)
    inputs = {p: fingerprints.report(project.reports[p]) for p in personas}
    if baselines is not None:
        from .archive import wanted_points

        # A new archived run changes what the report compares against.
        mark = baselines.digest(project.period, generated)
        for p in personas:
            if wanted_points(project.reports[p]):
                inputs[p] = hashlib.sha256(f"{inputs[p]}:{mark}".encode()).hexdigest()
    return inputs


def build(
    project: Project,
    *,
    reports: Sequence[str] | None = None,
    out_dir: Path | str | None = None,
    formats: Iterable[str] = FORMATS,
    clock: Clock | None = None,
    progress: Progress | None = None,
    bound: BindResult | None = None,
    only: Iterable[str] | None = None,
    jobs: int = 1,
    force: bool = False,
    shard: Shard | None = None,
    timeout: float | None = 300.0,
    memory_mb: int | None = 2048,
    baselines: Baselines | None = None,
) -> BuildResult:
    """Build the chosen reports into ``out_dir`` (default ``<project>/dist``).

    - Incremental: a persona whose inputs fingerprint matches the manifest (and whose
      files are intact) is not rebuilt, unless ``force``.
    - ``jobs`` > 1 makes PDFs in that many warm worker processes, each report limited
      by ``timeout`` seconds and ``memory_mb``; with 1, in this process.
    - Each report's files are written (atomically) as soon as they are made, so memory
      does not grow with the number of reports; the manifest is written last.
    - ``shard`` builds a deterministic share of the reports, with its own manifest.
    - ``bound``/``only`` let ``send`` rebuild just the stale reports of a bind it did.
    - Reports that compare against the archive get their baseline runs from
      ``baselines`` (default: the project's archive).
    """
    chosen = choose_reports(project, reports)
    formats = tuple(f for f in FORMATS if f in set(formats))
    out = output_dir(project, out_dir)
    generated = (clock or default_clock(project))()
    manifest_path = out / (shard.manifest if shard else MANIFEST)
    previous = manifest_entries(manifest_path)
    if baselines is None:
        baselines = project_baselines(project, chosen)
    inputs = report_inputs(project, chosen, formats, generated, baselines)
    results: list[ReportResult] = []
    unchanged: set[str] = set()
    if not force and only is None:
        for persona in chosen:
            names = up_to_date(out, previous, persona, inputs[persona])
            if names:
                unchanged.add(persona)
                results.extend(
                    ReportResult(
                        n,
                        previous[n].title,
                        persona=persona,
                        inputs=inputs[persona],
                        state="unchanged",
                    )
                    for n in names
                )
    to_build = [p for p in chosen if p not in unchanged]
    if to_build and "pdf" in formats:
        from .pdf import FONT_SUBSET_HINT, harfbuzz_subset_missing

        if harfbuzz_subset_missing():  # said once per build
            logging.getLogger("reportc").warning("warning: %s", FONT_SUBSET_HINT)
    pool = None
    if to_build and jobs > 1 and "pdf" in formats:
        from .workers import PdfPool

        # Start the workers first: they import WeasyPrint while we bind the data.
        pool = PdfPool(jobs, timeout=timeout, memory_mb=memory_mb).start()
    try:
        if to_build and bound is None:
            from .bind import bind

            bound = bind(project, to_build, want=shard.owns if shard else None)
        if bound is not None and baselines is not None:
            bound = with_history(project, bound, bound.order, baselines, lambda _: generated)
        names = [
            n
            for n in (bound.order if bound else ())
            if bound and bound.personas.get(n, n) in to_build
        ]
        if only is not None:
            wanted = set(only)
            names = [n for n in names if n in wanted]
        if shard is not None:
            names = [n for n in names if shard.owns(n)]
        if bound is not None and names:
            results.extend(
                _make(
                    project,
                    bound,
                    names,
                    out,
                    formats,
                    generated,
                    inputs,
                    progress,
                    pool=pool,
                    timeout=timeout,
                )
            )
    finally:
        if pool is not None:
            pool.__exit__(None, None, None)
    order = {n: i for i, n in enumerate([*(bound.order if bound else ()), *sorted(unchanged)])}
    results.sort(
        key=lambda r: (chosen.index(r.persona) if r.persona in chosen else 0, order.get(r.name, 0))
    )
    built = [r for r in results if r.state != "unchanged"]
    manifest = _write_manifest(project, manifest_path, built, generated)
    return BuildResult(out, project.period.label, tuple(results), manifest)


def _make(
    project: Project,
    bound: BindResult,
    names: Sequence[str],
    out: Path,
    formats: Sequence[str],
    generated: dt.datetime,
    inputs: Mapping[str, str],
    progress: Progress | None,
    *,
    pool: Any = None,
    timeout: float | None = 300.0,
) -> list[ReportResult]:
    from .archive import snapshot
    from .render import make_environment, render_report
    from .workers import PdfTask, run_task

    env = make_environment(project.root)
    writer = Writer(out)
    total = len(names)
    when = dt.datetime.combine(project.period.end, dt.time(), dt.timezone.utc)
    done: dict[str, ReportResult] = {}
    html_files: dict[str, FileRecord] = {}
    meta: dict[str, tuple[str, str, str, Mapping[str, str]]] = {}
    emails: dict[str, dict[str, Any]] = {}
    csv_files: dict[str, dict[str, FileRecord]] = {}

    def fail(name: str, exc: ReportcError) -> None:
        persona = bound.personas.get(name, name)
        title = bound.reports[name].spec.title if name in bound.reports else name
        done[name] = ReportResult(
            name, title, error=exc, persona=persona, inputs=inputs.get(persona, ""), state="failed"
        )
        if progress:
            progress("failed", name, len(done), total, exc.problems[0].format())

    def tasks() -> Iterator[PdfTask]:
        for index, name in enumerate(names, start=1):
            if name in bound.failures:
                fail(name, bound.failures[name])
                continue
            report = bound.reports[name]
            spec = report.spec
            if progress:
                progress("start", name, index, total, spec.title)
            try:
                rendered = render_report(
                    report, project, env=env, generated=generated, timeout=timeout
                )
            except ReportcError as exc:
                fail(name, exc)
                continue
            persona = spec.persona or name
            meta[name] = (spec.title, persona, html_digest(rendered.html), report.sources_used)
            emails[name] = packaging(project, report, rendered)
            csv_files[name] = _write_attachments(writer, name, report)
            if "html" in formats:
                data = rendered.html.encode("utf-8")
                writer.write(f"{name}.html", data)
                html_files[name] = FileRecord(
                    f"{name}.html", hashlib.sha256(data).hexdigest(), len(data)
                )
            if "pdf" not in formats:
                finish(name, None)
                continue
            yield PdfTask(
                name=name,
                html=rendered.html,
                project_root=project.root,
                target=writer.reserve(f"{name}.pdf"),
                options=spec.pdf,
                data_files=tuple(data_files(report)) if spec.pdf.attach_data else (),
                when=when,
            )

    def finish(name: str, pdf: Any) -> None:
        title, persona, html_sha, sources = meta[name]
        if pdf is not None and pdf.error is not None:
            fail(name, pdf.error)
            return
        values = snapshot(bound.reports[name])
        files: dict[str, FileRecord] = {}
        if name in html_files:
            files["html"] = html_files[name]
        if pdf is not None:
            files["pdf"] = FileRecord(f"{name}.pdf", pdf.sha256, pdf.size, pdf.pages)
        files.update(csv_files.get(name, {}))
        done[name] = ReportResult(
            name,
            title,
            frozen_map(files),
            sources,
            refused_urls=pdf.refused_urls if pdf is not None else (),
            html_sha256=html_sha,
            persona=persona,
            inputs=inputs.get(persona, ""),
            state="built",
            blocked=bound.reports[name].blocked,
            values=frozen_map(values),
            email=frozen_map(emails.get(name, {})),
        )
        if progress:
            pages = f"{pdf.pages} page{'s' if pdf.pages != 1 else ''}" if pdf else "html"
            progress("done", name, len(done), total, pages)

    if pool is not None:
        for result in pool.run(tasks()):
            finish(result.name, result)
    else:
        import gc

        # The bound data, templates and libraries stay alive for the whole build: keep
        # the collector from re-scanning them after every page laid out (~10% faster).
        gc.collect()
        gc.freeze()
        try:
            for task in tasks():
                finish(task.name, run_task(task, timeout))
        finally:
            gc.unfreeze()
    return [done[n] for n in names if n in done]


def packaging(project: Project, report: BoundReport, rendered: Any) -> dict[str, Any]:
    """What ``send`` needs of a built report without binding or rendering it again."""
    spec = report.spec
    persona_alerts = project.reports[spec.persona or spec.name].alerts
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


def _write_manifest(
    project: Project, path: Path, results: Sequence[ReportResult], generated: dt.datetime
) -> Path:
    entries = manifest_entries(path)
    for r in results:
        state = (
            (ReportState.BLOCKED if r.blocked else ReportState.OK) if r.ok else ReportState.FAILED
        )
        entries[r.name] = ReportEntry(
            title=r.title,
            persona=r.persona or r.name,
            state=state,
            period=project.period.label,
            built_at=generated.isoformat(),
            inputs_sha256=r.inputs,
            checks=tuple(r.blocked),
            files=dict(r.files) if r.ok else {},
            sources=dict(r.sources) if r.ok else {},
            html_sha256=r.html_sha256 if r.ok else "",
            values_sha256=r.values_sha256 if r.ok else "",
            values=dict(r.values) if r.ok else None,
            email=dict(r.email) if r.ok and r.email else None,
            errors=tuple(p.format() for p in r.error.problems) if r.error is not None else (),
        )
    Manifest(
        entries,
        project=project.organisation,
        period=project.period.label,
        generated_at=generated.isoformat(),
        reportc_version=reportc_version(),
    ).write(path)
    return path


def archive_run(
    project: Project,
    *,
    out_dir: Path | str | None = None,
    store: Any = None,
    clock: Clock | None = None,
    allow_failed_checks: bool = False,
) -> Any:
    """Archive what ``out_dir`` holds for the project's period as one run.

    ``store`` defaults to the project's ``archive:`` location (a folder or S3);
    returns an :class:`reportc.archive.ArchiveResult`.
    """
    from .archive import archive_build, open_store

    out = output_dir(project, out_dir)
    return archive_build(
        project,
        out,
        merged_manifest(out),
        store=store if store is not None else open_store(project),
        now=(clock or utc_now)(),
        allow_failed_checks=allow_failed_checks,
    )
