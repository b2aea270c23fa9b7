"""The stages in order: ``validate`` and ``build`` as library calls.

``build`` gathers, then writes: it binds every chosen report, renders each to
HTML and PDF in memory, and only then writes files (atomically) and the
manifest. A report that fails is recorded with its problems and the others
still build. The clock is injected so tests (and reproducible builds) control
"generated at".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .bind import BindResult, BoundReport, bind, data_problems
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
from .mime import rows_to_csv
from .pdf import DataFile, make_pdf
from .render import RenderedReport, make_environment, render_report
from .writer import Writer, write_atomic

FORMATS = ("html", "pdf")
MANIFEST = "manifest.json"
Clock = Callable[[], dt.datetime]
#: progress(event, report, index, total, detail); events: start, done, failed.
Progress = Callable[[str, str, int, int, str], None]


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
            (json.dumps(metrics, indent=2, default=str, sort_keys=True) + "\n").encode("utf-8"),
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


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class FileRecord:
    path: str
    sha256: str
    bytes: int
    pages: int | None = None


@dataclass(frozen=True)
class ReportResult:
    name: str
    title: str
    files: Mapping[str, FileRecord] = field(default_factory=frozen_map)
    sources: Mapping[str, str] = field(default_factory=frozen_map)
    error: ReportcError | None = None
    refused_urls: tuple[str, ...] = ()
    html_sha256: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


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

    def raise_for_failures(self) -> None:
        problems: list[Problem] = []
        for r in self.failed:
            assert r.error is not None
            problems.extend(r.error.problems)
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
    chosen = choose_reports(project, reports)
    result = bind(project, chosen)
    data = data_problems(result)
    env = make_environment(project.root)
    rendering: list[Problem] = []
    for name in chosen:
        bound = result.reports.get(name)
        if bound is None:
            continue
        try:
            render_report(bound, project, env=env, generated=(clock or default_clock(project))())
        except DataError as exc:
            data.extend(p for p in exc.problems if p not in data)
        except ReportcError as exc:
            rendering.extend(p for p in exc.problems if p not in rendering)
    if data:
        raise DataError(data + rendering)
    if rendering:
        raise RenderError(rendering)


@dataclass(frozen=True)
class _Made:
    name: str
    title: str
    rendered: RenderedReport
    pdf: Any  # Artifact | None
    sources: Mapping[str, str]


def build(
    project: Project,
    *,
    reports: Sequence[str] | None = None,
    out_dir: Path | str | None = None,
    formats: Iterable[str] = FORMATS,
    clock: Clock | None = None,
    progress: Progress | None = None,
    bound: BindResult | None = None,
) -> BuildResult:
    """Build the chosen reports into ``out_dir`` (default ``<project>/dist``).

    ``bound`` lets a caller that has already bound the data (``send``) reuse it.
    """
    chosen = choose_reports(project, reports)
    formats = tuple(f for f in FORMATS if f in set(formats))
    out = output_dir(project, out_dir)
    generated = (clock or default_clock(project))()
    if bound is None:
        bound = bind(project, chosen)
    env = make_environment(project.root)
    made: dict[str, _Made] = {}
    errors: dict[str, ReportcError] = dict(bound.failures)
    total = len(chosen)
    for index, name in enumerate(chosen, start=1):
        spec = project.reports[name]
        if progress:
            progress("start", name, index, total, spec.title)
        if name in errors:
            if progress:
                progress("failed", name, index, total, errors[name].problems[0].format())
            continue
        report: BoundReport = bound.reports[name]
        try:
            rendered = render_report(report, project, env=env, generated=generated)
            artifact = (
                make_pdf(
                    rendered,
                    project.root,
                    options=spec.pdf,
                    data_files=data_files(report) if spec.pdf.attach_data else (),
                    when=dt.datetime.combine(project.period.end, dt.time(), dt.timezone.utc),
                )
                if "pdf" in formats
                else None
            )
        except ReportcError as exc:
            errors[name] = exc
            if progress:
                progress("failed", name, index, total, exc.problems[0].format())
            continue
        made[name] = _Made(name, spec.title, rendered, artifact, report.sources_used)
        if progress:
            pages = (
                f"{artifact.pages} page{'s' if artifact.pages != 1 else ''}" if artifact else "html"
            )
            progress("done", name, index, total, pages)
    # Everything is rendered; now write.
    writer = Writer(out)
    results: list[ReportResult] = []
    for name in chosen:
        title = project.reports[name].title
        if name in errors:
            results.append(ReportResult(name, title, error=errors[name]))
            continue
        m = made[name]
        files: dict[str, FileRecord] = {}
        if "html" in formats:
            data = m.rendered.html.encode("utf-8")
            writer.write(f"{name}.html", data)
            files["html"] = FileRecord(f"{name}.html", hashlib.sha256(data).hexdigest(), len(data))
        if m.pdf is not None:
            writer.write(f"{name}.pdf", m.pdf.pdf)
            files["pdf"] = FileRecord(f"{name}.pdf", m.pdf.sha256, len(m.pdf.pdf), m.pdf.pages)
        results.append(
            ReportResult(
                name,
                title,
                frozen_map(files),
                m.sources,
                refused_urls=m.pdf.refused_urls if m.pdf is not None else (),
                html_sha256=html_digest(m.rendered.html),
            )
        )
    manifest = _write_manifest(project, out, results, generated)
    return BuildResult(out, project.period.label, tuple(results), manifest)


def _write_manifest(
    project: Project, out: Path, results: Sequence[ReportResult], generated: dt.datetime
) -> Path:
    path = out / MANIFEST
    previous: dict[str, Any] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text("utf-8")).get("reports", {})
        except (ValueError, AttributeError):
            previous = {}
    entries = dict(previous)
    for r in results:
        entry: dict[str, Any] = {
            "title": r.title,
            "period": project.period.label,
            "status": "ok" if r.ok else "failed",
            "built_at": generated.isoformat(),
        }
        if r.ok:
            entry["files"] = {
                kind: {k: v for k, v in f.__dict__.items() if v is not None}
                for kind, f in r.files.items()
            }
            entry["sources"] = dict(r.sources)
            entry["html_sha256"] = r.html_sha256
        else:
            assert r.error is not None
            entry["errors"] = [p.format() for p in r.error.problems]
        entries[r.name] = entry
    doc = {
        "reportc_version": reportc_version(),
        "project": project.organisation,
        "period": project.period.label,
        "generated_at": generated.isoformat(),
        "reports": {k: entries[k] for k in sorted(entries)},
    }
    write_atomic(path, (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    return path
