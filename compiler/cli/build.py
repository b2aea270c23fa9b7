"""``reportc build``: build the reports to HTML and PDF, write the manifest, archive.

A build with nothing to do is decided by :func:`reportc.plan_build` and ends there,
without loading the binding, rendering or PDF stages.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

import reportc

from .common import (
    Settings,
    echo_archived,
    emit_json,
    on_terminal,
    out_option,
    outputs,
    pass_settings,
    period_option,
    plural,
    recorded,
    say,
)
from .progress import Bar

#: on a terminal, more reports than this are summed up, not listed (-v lists them)
BRIEF_OVER = 20

_log = reportc.get_logger("cli")


def progress_bar(settings: Settings) -> Bar | None:
    """A bar on a terminal (not with -q); elsewhere each report keeps its own line."""
    return Bar("building") if on_terminal() and not settings.quiet else None


def progress_of(bar: Bar | None) -> reportc.Progress | None:
    if bar is None:
        return None

    def show(event: str, name: str, index: int, total: int, detail: str) -> None:
        if bar.total != total:
            bar.set_total(total)
        if event != "start":
            bar.advance(failed=event == "failed")

    return show


@click.command(name="build")
@click.option(
    "--persona",
    "personas",
    multiple=True,
    metavar="NAME",
    help="Build only this persona's report (repeatable).",
)
@out_option("Output folder (default: dist/ in the project).")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(("html", "pdf", "xlsx")),
    help="Output format (repeatable; default: each report's 'formats', html and pdf "
    "unless it says otherwise). xlsx: an Excel workbook.",
)
@period_option
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="PDF worker processes (default: the number of cores).",
)
@click.option("--force", is_flag=True, help="Rebuild even reports whose inputs did not change.")
@click.option(
    "--allow-failed-checks",
    is_flag=True,
    help="Exit 0 even if quality checks failed (the reports stay blocked).",
)
@click.option(
    "--no-archive",
    is_flag=True,
    help="Do not store this build in the project's archive.",
)
@click.option(
    "--shard",
    metavar="I/N|auto",
    default=None,
    help="Build only shard I of N (a deterministic share of the reports); auto or auto/N "
    "takes I (and N) from an AWS Batch array job or a Kubernetes Indexed Job.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds one report may take to render, and its PDF (0: no limit).",
)
@click.option(
    "--max-memory",
    type=click.IntRange(min=0),
    default=reportc.DEFAULT_BUILD_MEMORY_MB,
    show_default=True,
    help="MB of memory for this build and for each PDF worker (0: no limit beyond "
    "REPORTC_MAX_MEMORY).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document (schema: output-build-v1.schema.json) instead of lines.",
)
@pass_settings
def command(
    settings: Settings,
    personas: tuple[str, ...],
    out_dir: str | None,
    formats: tuple[str, ...],
    period: str | None,
    jobs: int | None,
    force: bool,
    shard: str | None,
    timeout: float,
    max_memory: int,
    allow_failed_checks: bool,
    no_archive: bool,
    as_json: bool,
) -> None:
    """Build the reports to HTML and PDF, and write manifest.json.

    With an archive: in reports.yaml, a successful build is then archived as a run
    (not a sharded one: archive after the last shard with 'reportc archive').
    """
    reportc.limit_memory(max_memory)
    try:
        chosen_shard = reportc.Shard.parse(shard, os.environ) if shard else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    options = _Options(
        personas,
        None,
        formats,
        jobs,
        force,
        chosen_shard,
        timeout,
        max_memory,
        out_dir,
        zygote=settings.zygote,
    )
    if as_json:
        emit_json(lambda: _document(settings, period, options, allow_failed_checks, no_archive))
        return
    project = settings.load(period)
    with recorded() as printed:
        result, run = _lines(settings, project, options, allow_failed_checks, no_archive)
    if settings.argv is not None and _stampable(project, options, result, run):
        reportc.write_build_stamp(settings.argv, Path.cwd(), os.environ, *printed)
    else:
        reportc.forget_build_stamp(settings.directory)
    result.raise_for_failures(allow_failed_checks)


def _lines(
    settings: Settings,
    project: reportc.Project,
    options: _Options,
    allow_failed_checks: bool,
    no_archive: bool,
) -> tuple[reportc.BuildResult, reportc.ArchiveResult | None]:
    """The build as lines: progress, one line per report, the total, the archive."""
    out_dir = options.location
    with outputs(project, out_dir, files=False, publish=True) as folder:
        o = dataclasses.replace(options, out_dir=folder)
        bar = progress_bar(settings)
        try:
            result = _build(project, o, progress_of(bar), settings.run_id)
        finally:
            if bar is not None:
                bar.close()
        todo = sum(1 for r in result.reports if r.state != "unchanged")
        brief = bar is not None and todo > BRIEF_OVER and settings.verbosity < 1
        show(result, project, brief=brief, where=out_dir if reportc.is_remote(out_dir) else None)
        applies, run = _archive(project, result, o, allow_failed_checks, no_archive)
    if run is not None:
        echo_archived(run)
    elif applies:
        click.echo("archive: not archived (the build failed or is blocked)", err=True)
    return result, run


def _stampable(
    project: reportc.Project,
    o: _Options,
    result: reportc.BuildResult,
    run: reportc.ArchiveResult | None,
) -> bool:
    """A build a stamp can answer next time: it did nothing and needed nothing outside
    the project's files (no database, no S3, no notices, not a shard, not forced)."""
    nothing_done = all(r.state == "unchanged" and r.ok and not r.blocked for r in result.reports)
    archive_local = project.archive is None or not project.archive.location.startswith("s3://")
    return (
        nothing_done
        and bool(result.reports)
        and (run is None or run.state == "unchanged")
        and archive_local
        and not (o.force or o.shard or reportc.is_remote(o.location))
        and not project.databases
        and project.notify is None
    )


def _succeeded(result: reportc.BuildResult, allow_failed_checks: bool) -> bool:
    """Built without failures, and not blocked by a check (unless that is allowed)."""
    return result.ok and (allow_failed_checks or not any(r.blocked for r in result.reports))


def _archive(
    project: reportc.Project,
    result: reportc.BuildResult,
    o: _Options,
    allow_failed_checks: bool,
    no_archive: bool,
) -> tuple[bool, reportc.ArchiveResult | None]:
    """Whether the build is one to archive (``archive:`` configured, not ``--no-archive``,
    not a shard), and the run archived: only when it succeeded."""
    if project.archive is None or no_archive or o.shard is not None:
        return False, None
    if not _succeeded(result, allow_failed_checks):
        return True, None
    run = reportc.archive_run(project, out_dir=o.out_dir, allow_failed_checks=allow_failed_checks)
    return True, run


@dataclass(frozen=True)
class _Options:
    personas: tuple[str, ...]
    out_dir: Path | None
    formats: tuple[str, ...]
    jobs: int | None
    force: bool
    shard: reportc.Shard | None
    timeout: float
    max_memory: int
    #: --out as given (a folder, or s3://bucket/prefix: out_dir is then its staging)
    location: str | None = None
    #: a PDF worker template the console command started early, if it did
    zygote: reportc.Zygote | None = None


def _build(
    project: reportc.Project, o: _Options, progress: reportc.Progress | None, run_id: str
) -> reportc.BuildResult:
    """The build, and a notice (``notify:``) if it ended badly, or raised."""
    try:
        result = _make(project, o, progress)
    except reportc.ReportcError as exc:
        if project.notify is not None:
            outcome = reportc.error_outcome("build", project.period.label, run_id, exc)
            reportc.notify(project, outcome)
        raise
    if project.notify is not None:  # (a project without notify: never loads that code)
        reportc.notify(project, reportc.build_outcome(result, run_id))
    return result


def _make(
    project: reportc.Project, o: _Options, progress: reportc.Progress | None
) -> reportc.BuildResult:
    plan = reportc.plan_build(
        project,
        reports=o.personas or None,
        out_dir=o.out_dir,
        formats=o.formats,
        force=o.force,
        shard=o.shard,
    )
    if not plan.to_build:
        return plan.finish(project, (), ())
    return reportc.build(
        project,
        plan=plan,
        progress=progress,
        jobs=o.jobs or reportc.default_jobs(),
        shard=o.shard,
        timeout=o.timeout or None,
        memory_mb=o.max_memory or None,
        zygote=o.zygote,
    )


def _document(
    settings: Settings,
    period: str | None,
    o: _Options,
    allow_failed_checks: bool,
    no_archive: bool,
) -> dict[str, Any]:
    """The build as one JSON document (see schema/output-build-v1.schema.json)."""
    project = settings.load(period)
    with outputs(project, o.location, files=False, publish=True) as folder:
        o = dataclasses.replace(o, out_dir=folder)
        result = _build(project, o, None, settings.run_id)
        ok = _succeeded(result, allow_failed_checks)
        _, run = _archive(project, result, o, allow_failed_checks, no_archive)
    archived = None
    if run is not None:
        archived = {"state": run.state, "run_id": run.run.run_id, "location": run.url}
    return {
        "schema_version": 1,
        "command": "build",
        "ok": ok,
        "exit_code": 0 if ok else 1,
        "period": project.period.label,
        "out_dir": o.location if reportc.is_remote(o.location) else str(result.out_dir),
        "manifest": str(result.manifest) if result.manifest else None,
        "reports": [
            {
                "name": r.name,
                "persona": r.persona or r.name,
                "state": str(r.state),
                "blocked": list(r.blocked),
                "files": {
                    kind: {"path": f.path, "sha256": f.sha256, "bytes": f.bytes, "pages": f.pages}
                    for kind, f in r.files.items()
                },
                "problems": [p.to_json() for p in r.error.problems] if r.error else [],
            }
            for r in result.reports
        ],
        "archive": archived,
        "problems": [],
    }


def show(
    result: reportc.BuildResult,
    project: reportc.Project,
    *,
    brief: bool = False,
    where: str | None = None,
) -> None:
    """One line per report built or failed (``brief``: only the failed ones), a total,
    and what is blocked; paths under ``where`` (an S3 prefix) if given."""
    shown = where or os.path.relpath(result.out_dir)
    unchanged = [r for r in result.reports if r.state == "unchanged"]
    if unchanged:
        say(f"unchanged: {plural(len(unchanged), 'report')} up to date (use --force to rebuild)")
    for r in result.reports:
        if r.state == "unchanged":
            continue
        if r.ok:
            for url in r.refused_urls:
                _log.warning("report '%s': refused to fetch %s", r.name, url)
            if brief:
                continue
            pdf = r.files.get("pdf")
            what = ", ".join(os.path.join(shown, f.path) for f in r.files.values())
            pages = f" ({plural(pdf.pages, 'page')})" if pdf and pdf.pages else ""
            say(f"ok      {r.name:<12} {what}{pages}")
        else:
            click.echo(f"FAILED  {r.name:<12} see below", err=True)
    built = sum(1 for r in result.reports if r.ok and r.state == "built")
    todo = sum(1 for r in result.reports if r.state != "unchanged")
    manifest = result.manifest.name if result.manifest else reportc.MANIFEST
    say(
        f"{built} of {plural(todo, 'report')} built for {project.period.title} "
        f"into {shown}/ (manifest: {os.path.join(shown, manifest)})"
    )
    for r in result.reports:
        for why in r.blocked:
            click.echo(f"BLOCKED {r.name:<12} {why}", err=True)
