"""The ``reportc`` command: parse options, call the library API, print, exit.

Global options come before the command, as in git: ``reportc -C DIR build``.
Nothing here knows how reports are made; see :mod:`reportc.pipeline`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from . import pipeline
from .addresses import address_key, mask
from .config import DEFAULT_CONFIG, Project, load_project
from .errors import DataError, DeliveryError, Location, Problem, ReportcError, SendFailed
from .limits import DEFAULT_MEMORY_MB, limit_memory
from .resources import project_schema


class Settings:
    def __init__(self, directory: Path, config: str, env_file: str | None) -> None:
        self.directory = directory
        self.config = config
        self.env_file = env_file

    def load(self, period: str | None = None) -> Project:
        return load_project(
            self.directory, config=self.config, env_file=self.env_file, period=period
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="Project directory (default: the current directory).",
)
@click.option(
    "--config",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Project file, relative to the project directory.",
)
@click.option(
    "--env-file",
    default=None,
    help="Env file for ${VAR} values (default: repos.env in the project, if present).",
)
@click.version_option(pipeline.reportc_version(), prog_name="reportc")
@click.pass_context
def main(ctx: click.Context, directory: Path, config: str, env_file: str | None) -> None:
    """reportc: compile reports.yaml into PDF reports."""
    if not directory.is_dir():
        raise click.BadParameter(f"'{directory}' is not a directory", param_hint="-C")
    ctx.obj = Settings(directory, config, env_file)


def out_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--out",
        "out_dir",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help=text,
    )


period_option = click.option(
    "--period",
    default=None,
    help="Reporting period: YYYY-MM, YYYY-Qn or YYYY (default: from reports.yaml, "
    "else the last complete month).",
)


@main.command()
@period_option
@click.pass_obj
def validate(settings: Settings, period: str | None) -> None:
    """Check reports.yaml, load every data source, and render every report (no writes)."""
    project = settings.load(period)
    pipeline.validate(project)
    click.echo(
        f"{project.config_name}: valid — {_plural(len(project.reports), 'report')}, "
        f"{_plural(len(project.sources), 'source')}, {_plural(len(project.metrics), 'metric')}, "
        f"period {project.period.label}"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _progress_printer() -> pipeline.Progress | None:
    if not sys.stderr.isatty():
        return None

    def show(event: str, name: str, index: int, total: int, detail: str) -> None:
        if event == "start":
            click.echo(f"[{index}/{total}] {name}: rendering …", err=True)
        elif event == "done":
            click.echo(f"[{index}/{total}] {name}: done ({detail})", err=True)
        else:
            click.echo(f"[{index}/{total}] {name}: FAILED", err=True)

    return show


@main.command()
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
    type=click.Choice(pipeline.FORMATS),
    help="Output format (repeatable; default: html and pdf).",
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
    metavar="I/N",
    default=None,
    help="Build only shard I of N (a deterministic share of the reports).",
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
    default=2048,
    show_default=True,
    help="MB of memory for this build and for each PDF worker (0: no limit beyond "
    "REPORTC_MAX_MEMORY).",
)
@click.pass_obj
def build(
    settings: Settings,
    personas: tuple[str, ...],
    out_dir: Path | None,
    formats: tuple[str, ...],
    period: str | None,
    jobs: int | None,
    force: bool,
    shard: str | None,
    timeout: float,
    max_memory: int,
    allow_failed_checks: bool,
    no_archive: bool,
) -> None:
    """Build the reports to HTML and PDF, and write manifest.json.

    With an archive: in reports.yaml, a successful build is then archived as a run
    (not a sharded one: archive after the last shard with 'reportc archive').
    """
    limit_memory(max_memory)
    project = settings.load(period)
    if out_dir is not None and not out_dir.is_absolute():
        out_dir = Path.cwd() / out_dir
    try:
        chosen_shard = pipeline.Shard.parse(shard) if shard else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    result = pipeline.build(
        project,
        reports=personas or None,
        out_dir=out_dir,
        formats=formats or pipeline.FORMATS,
        progress=_progress_printer(),
        jobs=jobs or pipeline.default_jobs(),
        force=force,
        shard=chosen_shard,
        timeout=timeout or None,
        memory_mb=max_memory or None,
    )
    shown = os.path.relpath(result.out_dir)
    unchanged = [r for r in result.reports if r.state == "unchanged"]
    if unchanged:
        click.echo(
            f"unchanged: {_plural(len(unchanged), 'report')} up to date (use --force to rebuild)"
        )
    for r in result.reports:
        if r.state == "unchanged":
            continue
        if r.ok:
            pdf = r.files.get("pdf")
            what = ", ".join(os.path.join(shown, f.path) for f in r.files.values())
            pages = f" ({_plural(pdf.pages, 'page')})" if pdf and pdf.pages else ""
            click.echo(f"ok      {r.name:<12} {what}{pages}")
            for url in r.refused_urls:
                click.echo(f"warning: report '{r.name}': refused to fetch {url}", err=True)
        else:
            click.echo(f"FAILED  {r.name:<12} see below", err=True)
    built = sum(1 for r in result.reports if r.ok and r.state == "built")
    todo = sum(1 for r in result.reports if r.state != "unchanged")
    manifest = result.manifest.name if result.manifest else pipeline.MANIFEST
    click.echo(
        f"{built} of {_plural(todo, 'report')} built for {project.period.title} "
        f"into {shown}/ (manifest: {os.path.join(shown, manifest)})"
    )
    for r in result.reports:
        for why in r.blocked:
            click.echo(f"BLOCKED {r.name:<12} {why}", err=True)
    blocked = any(r.blocked for r in result.reports)
    if project.archive is not None and not no_archive and chosen_shard is None:
        if result.ok and (allow_failed_checks or not blocked):
            _echo_archived(
                pipeline.archive_run(
                    project, out_dir=out_dir, allow_failed_checks=allow_failed_checks
                )
            )
        else:
            click.echo("archive: not archived (the build failed or is blocked)", err=True)
    result.raise_for_failures(allow_failed_checks)


def _echo_archived(result: Any) -> None:
    if result.state == "unchanged":
        click.echo(f"archive: unchanged since run {result.run.run_id} ({result.url})")
    else:
        click.echo(f"archive: run {result.run.run_id} stored in {result.url}/{result.run.period}/")


@main.command(name="archive")
@out_option("The built reports' folder (default: dist/ in the project).")
@period_option
@click.option(
    "--allow-failed-checks", is_flag=True, help="Archive reports blocked by failed checks."
)
@click.pass_obj
def archive_command(
    settings: Settings, out_dir: Path | None, period: str | None, allow_failed_checks: bool
) -> None:
    """Archive the built reports of the period as a run (after sharded builds, say)."""
    project = settings.load(period)
    if out_dir is not None and not out_dir.is_absolute():
        out_dir = Path.cwd() / out_dir
    _echo_archived(
        pipeline.archive_run(project, out_dir=out_dir, allow_failed_checks=allow_failed_checks)
    )


def _when(stamp: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(stamp).astimezone(dt.timezone.utc)
    except ValueError:
        return stamp
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _sent_summary(project: Project, runs: Sequence[Any]) -> dict[tuple[str, str], str]:
    """(report, pdf sha256) -> when and to how many it was really sent, from the ledger."""
    from .delivery import existing_ledger

    out: dict[tuple[str, str], str] = {}
    with existing_ledger(project) as ledger:
        if ledger is None:
            return out
        for run in runs:
            for name, rec in run.reports.items():
                sha = rec.get("pdf_sha256", "")
                copies = ledger.sent_copies(name, sha) if sha else []
                if copies:
                    people = sum(len(c.to) + len(c.cc) for c in copies)
                    when = _when(copies[0].updated_at)
                    out[(name, sha)] = f"sent {when} ({_plural(people, 'recipient')})"
    return out


@main.command()
@click.option("--period", "period_filter", default=None, help="Only runs of this period.")
@click.option("--persona", "report", default=None, metavar="NAME", help="Only this report.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.pass_obj
def history(
    settings: Settings, period_filter: str | None, report: str | None, limit: int, as_json: bool
) -> None:
    """List archived runs, newest first: period, reports, PDF sha256, sent or not."""
    from .archive import list_runs, open_store

    project = settings.load()
    store = open_store(project)
    runs = [r for r in list_runs(store) if not period_filter or r.period == period_filter]
    runs = runs[-limit:][::-1]
    sent = _sent_summary(project, runs)
    if as_json:
        doc = []
        for run in runs:
            item = run.to_json()
            for name, rec in item["reports"].items():
                rec["sent"] = sent.get((name, rec.get("pdf_sha256", "")), "")
            doc.append(item)
        click.echo(json.dumps(doc, indent=2))
        return
    if not runs:
        click.echo(f"no runs archived in {store.url} yet")
        return
    click.echo(f"{len(runs)} run(s) in {store.url}, newest first")
    for run in runs:
        names = [n for n in run.reports if report is None or n == report]
        went = sum(1 for n in names if (n, run.reports[n].get("pdf_sha256", "")) in sent)
        click.echo(
            f"{run.run_id}  {run.period:<8} archived {run.created_at:%Y-%m-%d %H:%M} UTC  "
            f"{_plural(len(names), 'report')}, {went} sent"
        )
        for name in names:
            rec = run.reports[name]
            sha = rec.get("pdf_sha256", "")
            state = sent.get((name, sha), "not sent")
            flag = "" if rec.get("status") == "ok" else f" [{rec.get('status')}]"
            click.echo(f"    {name:<14} sha256 {sha[:12] or '-':<12}  {state}{flag}")


def _figure(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _change(before: Any, after: Any) -> str:
    nums = (int, float)
    if isinstance(before, nums) and isinstance(after, nums) and not isinstance(before, bool):
        step = after - before
        pct = f" ({step / abs(before):+.1%})" if before else ""
        return f"{'+' if step > 0 else ''}{_figure(step)}{pct}"
    return "changed"


@main.command()
@click.argument("run_a", default="previous")
@click.argument("run_b", default="latest")
@click.option("--persona", "report", default=None, metavar="NAME", help="Only this report.")
@click.option("--all", "show_all", is_flag=True, help="List unchanged figures too.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.pass_obj
def diff(
    settings: Settings,
    run_a: str,
    run_b: str,
    report: str | None,
    show_all: bool,
    as_json: bool,
) -> None:
    """Show which figures changed between two archived runs (default: previous, latest).

    RUN_A and RUN_B are run ids (or a unique prefix), 'latest' or 'previous'.
    """
    from .archive import diff as diff_values
    from .archive import list_runs, load_values, open_store, resolve

    project = settings.load()
    store = open_store(project)
    runs = list_runs(store)
    a, b = resolve(runs, run_a), resolve(runs, run_b)
    va, vb = load_values(store, a), load_values(store, b)
    if report is not None:
        va = {k: v for k, v in va.items() if k == report}
        vb = {k: v for k, v in vb.items() if k == report}
    changes = diff_values(va, vb, include_same=show_all)
    if as_json:
        click.echo(
            json.dumps(
                {"from": a.run_id, "to": b.run_id, "changes": [c.__dict__ for c in changes]},
                indent=2,
            )
        )
        return
    click.echo(f"{a.run_id} ({a.period}) -> {b.run_id} ({b.period})")
    if not changes:
        click.echo("no figures changed")
        return
    width = max(len(c.name) for c in changes)
    for c in changes:
        if c.kind == "report":
            what = "added" if c.before is None else "removed"
            click.echo(f"{c.report:<12} report {what}")
            continue
        if c.kind == "rows":
            what = (
                "rows unchanged"
                if c.before == c.after
                else ("rows changed" if c.before and c.after else "rows added or removed")
            )
            click.echo(f"{c.report:<12} {c.name:<{width}}  {what}")
            continue
        change = "" if c.before == c.after else _change(c.before, c.after)
        click.echo(
            f"{c.report:<12} {c.name:<{width}}  {_figure(c.before):>14} -> "
            f"{_figure(c.after):<14} {change}"
        )
    moved = sum(1 for c in changes if c.before != c.after)
    click.echo(f"{_plural(moved, 'figure')} changed")


def _send_progress() -> Callable[[str, str, str], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(event: str, report: str, detail: str) -> None:
        click.echo(f"{event:<9} {report}: {detail}", err=True)

    return show


def _addr(value: str, show: bool) -> str:
    return value if show else mask(value)


@main.command()
@click.option(
    "--persona",
    "personas",
    multiple=True,
    metavar="NAME",
    help="Send only this persona's report (repeatable).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Build every message, write them to the outbox folder, contact nothing.",
)
@click.option(
    "--transport",
    default=None,
    metavar="NAME",
    help="Override delivery.transport from reports.yaml: ses, smtp, outbox, or a "
    "transport a plugin adds.",
)
@click.option(
    "--redirect-to",
    metavar="ADDR",
    default=None,
    help="Send everything to this one address instead (recorded as such).",
)
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="Send at most N messages in this run."
)
@click.option(
    "--resend",
    is_flag=True,
    help="Send even what the ledger says was sent (or may have been), and reports that "
    "send_if: changed would hold back.",
)
@click.option(
    "--resend-uncertain",
    is_flag=True,
    help="Send again only to recipients a stopped run may not have reached (check first); "
    "never to those the ledger says have it.",
)
@click.option(
    "--allow-suppressed-audit",
    is_flag=True,
    help="Send although the audit BCC address is suppressed (recorded in the ledger).",
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for --dry-run and the outbox transport (default: dist/outbox).",
)
@out_option("Where the built reports are (default: dist/ in the project).")
@click.option("--show-addresses", is_flag=True, help="Print full addresses (masked by default).")
@click.option(
    "--include-suppressed",
    is_flag=True,
    help="Also send to addresses that bounced permanently or complained.",
)
@click.option(
    "--allow-failed-checks",
    is_flag=True,
    help="Send reports blocked by failed quality checks (recorded in the ledger).",
)
@period_option
@click.pass_obj
def send(
    settings: Settings,
    personas: tuple[str, ...],
    dry_run: bool,
    transport: str | None,
    redirect_to: str | None,
    limit: int | None,
    resend: bool,
    resend_uncertain: bool,
    allow_suppressed_audit: bool,
    outbox: Path | None,
    out_dir: Path | None,
    show_addresses: bool,
    include_suppressed: bool,
    allow_failed_checks: bool,
    period: str | None,
) -> None:
    """Email the reports (builds what is missing or out of date first)."""
    from . import dispatch as send_stage

    project = settings.load(period)
    if out_dir is not None and not out_dir.is_absolute():
        out_dir = Path.cwd() / out_dir
    if outbox is not None and not outbox.is_absolute():
        outbox = Path.cwd() / outbox
    result = send_stage.send(
        project,
        reports=personas or None,
        transport_name=transport,
        dry_run=dry_run,
        redirect_to=redirect_to,
        limit=limit,
        resend=resend,
        resend_uncertain=resend_uncertain,
        allow_suppressed_audit=allow_suppressed_audit,
        out_dir=out_dir,
        outbox=outbox,
        progress=_send_progress(),
        include_suppressed=include_suppressed,
        allow_failed_checks=allow_failed_checks,
    )
    if result.dry_run:
        _show_dry_run(result, project.delivery.sender, show_addresses)
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for m in result.messages:
        who = ", ".join(_addr(a, show_addresses) for a in (*m.to, *m.cc))
        bcc = f" +{m.bcc_count} bcc" if m.bcc_count else ""
        line = f"{m.state:<10} {m.report:<12} {who}{bcc}"
        if m.state == "sent":
            line += f"  [{m.message_id}]"
        elif m.detail:
            line += f"  — {m.detail}"
        click.echo(line, err=not m.ok)
    counts = ", ".join(
        f"{result.count(s)} {s}"
        for s in ("sent", "skipped", "failed", "uncertain", "not-sent")
        if result.count(s)
    )
    click.echo(f"run {result.run_id} via {result.transport}: {counts or 'nothing to send'}")
    if not result.ok:
        raise SendFailed(
            [
                Problem(f"report '{m.report}': {m.state}: {m.detail}")
                for m in result.messages
                if not m.ok
            ]
            + ([Problem(result.stopped)] if result.stopped else [])
        )


def _show_dry_run(result: Any, sender: str, show_addresses: bool) -> None:
    """What would go out, message by message; what would not, and why."""
    assert result.outbox is not None
    drafts = [m for m in result.messages if m.state == "dry-run"]
    click.echo(
        f"DRY RUN: nothing was sent; {_plural(len(drafts), 'message')} written to "
        f"{os.path.relpath(result.outbox)}/"
    )
    for m in drafts:
        click.echo(f"{m.report}:")
        click.echo(f"  from:    {_addr(sender, show_addresses)}")
        click.echo("  to:      " + ", ".join(_addr(a, show_addresses) for a in m.to))
        if m.cc:
            click.echo("  cc:      " + ", ".join(_addr(a, show_addresses) for a in m.cc))
        click.echo(f"  bcc:     {m.bcc_count} (envelope only)")
        click.echo(f"  subject: {m.subject}")
        for name, size in m.attachments:
            click.echo(f"  attach:  {name} ({size:,} bytes)")
        click.echo(f"  size:    {m.size:,} bytes encoded -> {os.path.relpath(m.path)}")
    for m in result.messages:
        if m.state != "dry-run":
            click.echo(f"{m.state:<10} {m.report}: {m.detail}", err=m.state == "failed")
    failed = [m for m in result.messages if m.state == "failed"]
    if failed:
        raise SendFailed([Problem(f"report '{m.report}': failed: {m.detail}") for m in failed])


@main.command()
@click.option("--persona", default=None, metavar="NAME", help="Only this persona.")
@click.option("--show-addresses", is_flag=True, help="Print full addresses (masked by default).")
@click.pass_obj
def status(settings: Settings, persona: str | None, show_addresses: bool) -> None:
    """Show the delivery ledger: per report and recipient, state, time, message id, error."""
    from .delivery import existing_ledger, ledger_path

    project = settings.load()
    with existing_ledger(project) as ledger:
        if ledger is None:
            where = os.path.relpath(ledger_path(project))
            click.echo(f"no messages sent yet (no ledger at {where})")
            return
        rows = ledger.rows(persona)
        delivered = ledger.deliveries()
    click.echo(
        f"{'report':<12} {'recipient':<28} {'as':<4} {'state':<10} {'updated':<20} "
        "message id / error"
    )
    for row in rows:
        state = "uncertain" if row.uncertain else row.state
        detail = row.message_id if row.state == "sent" else row.error
        if row.redirected_to:
            detail += f" (redirected to {_addr(row.redirected_to, show_addresses)})"
        for kind, addrs in (("to", row.to), ("cc", row.cc), ("bcc", row.bcc)):
            for addr in addrs:
                shown = detail
                outcome = delivered.get((row.message_id, address_key(addr)))
                if outcome is not None:  # what SES said happened (reportc events ingest)
                    shown = f"{row.message_id} — {outcome[0]}" + (
                        f" ({outcome[1]})" if outcome[1] else ""
                    )
                click.echo(
                    f"{row.report:<12} {_addr(addr, show_addresses):<28} {kind:<4} "
                    f"{state:<10} {row.updated_at:<20} {shown}"
                )


@main.command()
@click.option(
    "--emit",
    type=click.Choice(("crontab", "systemd", "eventbridge")),
    default=None,
    help="Print ready-to-install definitions that run 'reportc send'.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1, max=50),
    default=1,
    show_default=True,
    help="How many upcoming runs to list per report.",
)
@click.pass_obj
def schedule(settings: Settings, emit: str | None, count: int) -> None:
    """When each report is sent (schedule: in reports.yaml)."""
    from . import schedule as schedules

    project = settings.load()
    if emit == "crontab":
        click.echo(schedules.emit_crontab(project), nl=False)
        return
    if emit == "systemd":
        click.echo(schedules.emit_systemd(project), nl=False)
        return
    if emit == "eventbridge":
        click.echo(schedules.emit_eventbridge(project, project.env), nl=False)
        return
    planned = schedules.plan(project, pipeline.utc_now(), count)
    if not planned:
        click.echo("no report has a schedule (add schedule: {cron: ..., timezone: ...})")
        return
    for item in planned:
        runs = ", ".join(r.strftime("%Y-%m-%d %H:%M %Z") for r in item.next_runs)
        click.echo(
            f"{item.report:<12} {item.schedule.cron:<16} {item.schedule.timezone:<22} next: {runs}"
        )


@main.group()
def events() -> None:
    """SES delivery events (bounces, complaints, deliveries)."""


@events.command(name="ingest")
@click.argument("source", type=click.File("rb"), default="-")
@click.option(
    "--signing-cert",
    type=click.File("rb"),
    default=None,
    help="PEM certificate to check SNS signatures with, instead of fetching SigningCertURL.",
)
@click.option(
    "--unsigned",
    is_flag=True,
    help="Take the records as they are, unsigned (you vouch for where this file came from).",
)
@click.pass_obj
def events_ingest(settings: Settings, source: Any, signing_cert: Any, unsigned: bool) -> None:
    """Record SES events from signed SNS notifications (FILE, or - for stdin)."""
    from .delivery import Ledger, ledger_path
    from .delivery.events import ingest, parse
    from .delivery.sns import Verifier

    project = settings.load()
    verifier = None if unsigned else Verifier(signing_cert.read() if signing_cert else None)
    name = getattr(source, "name", "-")
    parsed = parse(
        source.read(), "<stdin>" if name in ("-", "<stdin>") else name, verifier=verifier
    )
    ledger = Ledger(ledger_path(project), pipeline.utc_now)
    try:
        summary = ingest(ledger, parsed.records)
    finally:
        ledger.close()
    _show_ingest(summary)
    if parsed.refused:
        raise DataError(
            [*parsed.refused, Problem(f"{_plural(len(parsed.refused), 'notification')} refused")]
        )


@events.command(name="pull")
@click.option("--queue-url", required=True, help="The SQS queue subscribed to the SNS topic.")
@click.option(
    "--wait",
    type=click.IntRange(min=0, max=20),
    default=1,
    show_default=True,
    help="Seconds to long-poll for each batch.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Read at most N queue messages.",
)
@click.pass_obj
def events_pull(settings: Settings, queue_url: str, wait: int, limit: int) -> None:
    """Record SES events from an SQS queue (SNS -> SQS), deleting each once recorded."""
    from .delivery import Ledger, ledger_path
    from .delivery.events import pull
    from .delivery.transports import make_sqs_client

    project = settings.load()
    sqs = make_sqs_client(project.delivery.region, project.env)
    ledger = Ledger(ledger_path(project), pipeline.utc_now)
    try:
        result = pull(ledger, sqs, queue_url, wait=wait, limit=limit)
    except Exception as exc:
        from .delivery.transports import classify_ses_error

        raise DeliveryError(
            Problem(
                f"cannot read the queue: {classify_ses_error(exc).message}", Location(queue_url)
            )
        ) from None
    finally:
        ledger.close()
    click.echo(
        f"received {_plural(result.received, 'queue message')}, deleted {result.deleted}"
        + (f", {result.kept} left in the queue (not JSON)" if result.kept else "")
    )
    _show_ingest(result.summary)


@events.command(name="unsuppress")
@click.argument("addresses", nargs=-1, required=True)
@click.pass_obj
def events_unsuppress(settings: Settings, addresses: tuple[str, ...]) -> None:
    """Take addresses off the suppression list (after fixing the mailbox)."""
    from .delivery import existing_ledger

    project = settings.load()
    with existing_ledger(project) as ledger:
        removed = [a for a in addresses if ledger is not None and ledger.unsuppress(a)]
    for a in addresses:
        click.echo(f"{mask(a)}: {'no longer suppressed' if a in removed else 'was not suppressed'}")


def _show_ingest(summary: Any) -> None:
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary.by_state.items())) or "nothing"
    click.echo(f"ingested {_plural(summary.events, 'event')}: {states}")
    if summary.suppressed:
        click.echo("suppressed from now on: " + ", ".join(mask(a) for a in summary.suppressed))
    notes = (
        (summary.unknown_messages, "for messages this ledger did not send (ignored)"),
        (summary.ignored, "of other kinds (send, open, click ...) ignored"),
        (summary.malformed, "malformed (no message id, or fields of the wrong type; ignored)"),
    )
    for count, text in notes:
        if count:
            click.echo(f"note: {_plural(count, 'event')} {text}", err=True)
    if summary.foreign:
        click.echo(
            f"note: {_plural(summary.foreign, 'recipient')} named by events but not by their "
            "message (ignored)",
            err=True,
        )


@main.command()
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--rebuild-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds a rebuild may take before it is stopped and shown as a problem.",
)
@period_option
@click.pass_obj
def preview(settings: Settings, port: int, rebuild_timeout: float, period: str | None) -> None:
    """Serve the reports on 127.0.0.1 and rebuild them whenever a file changes.

    HTML, PDF and email views; the browser page reloads after each rebuild, and a
    problem (with its file:line:col) is shown in the page instead of stopping.
    Nothing is written to dist/ and nothing is sent.
    """
    from .preview import Preview, PreviewServer

    root = settings.directory.resolve()
    extra = (Path(settings.env_file).resolve(),) if settings.env_file else ()

    def log(message: str) -> None:
        click.echo(f"{dt.datetime.now():%H:%M:%S} {message}", err=True)

    state = Preview(
        root,
        lambda: settings.load(period),
        extra_files=extra,
        log=log,
        rebuild_seconds=rebuild_timeout,
    )
    try:
        server = PreviewServer(state, port)
    except OSError as exc:
        raise ReportcError(
            Problem(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="try --port 0")
        ) from exc
    click.echo(f"Preview on {server.url}  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.httpd.server_close()


@main.command(name="list")
@click.pass_obj
def list_reports(settings: Settings) -> None:
    """Show personas, their sections and recipients (addresses masked)."""
    project = settings.load()
    for name, report in project.reports.items():
        click.echo(f"{name}: {report.title}")
        click.echo("  sections: " + ", ".join(f"{s.name} ({s.type})" for s in report.sections))
        for kind in ("to", "cc", "bcc"):
            addrs = getattr(report.recipients, kind)
            if addrs:
                click.echo(f"  {kind}: " + ", ".join(mask(a) for a in addrs))
    if project.delivery.audit_bcc:
        click.echo(
            "audit bcc (all reports): " + ", ".join(mask(a) for a in project.delivery.audit_bcc)
        )


@main.command()
def schema() -> None:
    """Print the JSON Schema of reports.yaml (for editors and CI linting)."""
    data: dict[str, Any] = project_schema()
    click.echo(json.dumps(data, indent=2))


#: exit code for a failure reportc did not foresee (a bug, or the machine: memory, disk)
INTERNAL_ERROR = 70


def run(argv: Sequence[str] | None = None) -> None:
    """The ``reportc`` command: no Python traceback reaches a user, for any input.

    Errors reportc knows are shown by click with their positions. Anything else (a
    bug, memory or disk exhausted, input nested beyond Python's recursion limit) is
    one line saying what happened and what to do; ``REPORTC_DEBUG=1`` shows the
    traceback for a bug report.
    """
    try:
        limit_memory(_memory_mb())
        main.main(args=list(argv) if argv is not None else None, prog_name="reportc")
    except SystemExit:
        raise
    except MemoryError:
        _internal("out of memory", "lower the data or --max-memory, or use a bigger machine")
    except RecursionError:
        _internal(
            "the input is nested too deeply to process",
            "look for deeply nested YAML or JSON, or a template that includes itself",
        )
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        _internal(f"{exc.strerror or exc}{where}", "check free disk space and permissions")
    except Exception as exc:
        _internal(
            f"unexpected {type(exc).__name__}: {str(exc)[:300]}",
            "this is a bug in reportc; run again with REPORTC_DEBUG=1 and report the output",
        )


def _memory_mb() -> int:
    """REPORTC_MAX_MEMORY (MB, 0: no limit), else the default."""
    value = os.environ.get("REPORTC_MAX_MEMORY", "").strip()
    return int(value) if value.isdigit() else DEFAULT_MEMORY_MB


def _internal(message: str, hint: str) -> None:
    if os.environ.get("REPORTC_DEBUG"):
        raise
    click.echo(f"error: {message}\n    hint: {hint}", err=True)
    sys.exit(INTERNAL_ERROR)


if __name__ == "__main__":  # pragma: no cover
    run()
