"""``reportc send``: email the reports exactly once (building what is stale first)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import reportc

from .common import (
    Settings,
    absolute,
    addr,
    emit_json,
    on_terminal,
    out_option,
    outputs,
    pass_settings,
    period_option,
    plural,
    relative,
    say,
)
from .progress import Bar


def _send_progress(bar: Bar | None) -> Callable[[str, str, str], None] | None:
    """The bar's updates; a retry's wait is logged (a warning) by the library."""
    if bar is None:
        return None

    def show(event: str, report: str, detail: str) -> None:
        if event == "planned":
            bar.set_total(int(detail))
        elif event in ("sent", "failed", "uncertain"):
            bar.advance(failed=event != "sent")

    return show


@click.command(name="send")
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document (schema: output-send-v1.schema.json) instead of lines.",
)
@pass_settings
def command(
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
    out_dir: str | None,
    show_addresses: bool,
    include_suppressed: bool,
    allow_failed_checks: bool,
    period: str | None,
    as_json: bool,
) -> None:
    """Email the reports (builds what is missing or out of date first)."""
    bar = Bar("sending") if on_terminal() and not (as_json or dry_run or settings.quiet) else None
    options = {
        "reports": personas or None,
        "transport_name": transport,
        "dry_run": dry_run,
        "redirect_to": redirect_to,
        "limit": limit,
        "resend": resend,
        "resend_uncertain": resend_uncertain,
        "allow_suppressed_audit": allow_suppressed_audit,
        "out_dir": out_dir,
        "outbox": absolute(outbox),
        "progress": _send_progress(bar),
        "include_suppressed": include_suppressed,
        "allow_failed_checks": allow_failed_checks,
        "run_id": settings.run_id,
    }
    if as_json:
        emit_json(lambda: _document(_run(settings, period, bar, options)[1], show_addresses))
        return
    project, result = _run(settings, period, bar, options)
    if result.dry_run:
        _show_dry_run(result, project.delivery.sender, show_addresses)
    else:
        _show(result, show_addresses)


def _run(
    settings: Settings, period: str | None, bar: Bar | None, options: dict[str, Any]
) -> tuple[reportc.Project, reportc.SendResult]:
    """The send, and a notice (``notify:``) if it ended badly, or raised."""
    project = settings.load(period)
    transport = options["transport_name"]
    try:
        with outputs(project, options["out_dir"], files=True, publish=False) as folder:
            result = reportc.send(project, **{**options, "out_dir": folder})
    except reportc.ReportcError as exc:
        if project.notify is not None:
            outcome = reportc.error_outcome("send", project.period.label, settings.run_id, exc)
            reportc.notify(project, outcome, transport_name=transport)
        raise
    finally:
        if bar is not None:
            bar.close()
    if not result.dry_run and project.notify is not None:
        outcome = reportc.send_outcome(result, project.period.label)
        reportc.notify(project, outcome, transport_name=transport)
    return project, result


def _show(result: reportc.SendResult, show_addresses: bool) -> None:
    """One line per message, a total, and an error naming what did not go."""
    for note in result.notes:
        say(f"note: {note}", err=True)
    for m in result.messages:
        who = ", ".join(m.to if m.channel else (addr(a, show_addresses) for a in (*m.to, *m.cc)))
        bcc = f" +{m.bcc_count} bcc" if m.bcc_count else ""
        line = f"{m.state:<10} {m.report:<12} {who}{bcc}"
        if m.state == "sent":
            line += f"  [{m.message_id}]"
        elif m.detail:
            line += f"  — {m.detail}"
        if m.ok:
            say(line)
        else:
            click.echo(line, err=True)
    counts = ", ".join(
        f"{result.count(s)} {s}"
        for s in ("sent", "skipped", "failed", "uncertain", "not-sent")
        if result.count(s)
    )
    say(f"run {result.run_id} via {result.transport}: {counts or 'nothing to send'}")
    if not result.ok:
        raise reportc.SendFailed(
            [
                reportc.Problem(f"report '{m.report}': {m.state}: {m.detail}")
                for m in result.messages
                if not m.ok
            ]
            + ([reportc.Problem(result.stopped)] if result.stopped else [])
        )


def _show_dry_run(result: reportc.SendResult, sender: str, show_addresses: bool) -> None:
    """What would go out, message by message; what would not, and why."""
    assert result.outbox is not None
    drafts = [m for m in result.messages if m.state == "dry-run"]
    posts = sum(1 for m in drafts if m.channel)
    what = plural(len(drafts) - posts, "message") + (
        f" and {plural(posts, 'channel post')}" if posts else ""
    )
    click.echo(f"DRY RUN: nothing was sent; {what} written to {relative(result.outbox)}/")
    for m in drafts:
        click.echo(f"{m.report}:")
        if m.channel:  # a Slack or webhook post: its payload
            click.echo(f"  {m.channel}: {', '.join(m.to)}")
            click.echo(f"  payload: {m.size:,} bytes -> {relative(m.path)}")
            continue
        click.echo(f"  from:    {addr(sender, show_addresses)}")
        click.echo("  to:      " + ", ".join(addr(a, show_addresses) for a in m.to))
        if m.cc:
            click.echo("  cc:      " + ", ".join(addr(a, show_addresses) for a in m.cc))
        click.echo(f"  bcc:     {m.bcc_count} (envelope only)")
        click.echo(f"  subject: {m.subject}")
        for name, size in m.attachments:
            click.echo(f"  attach:  {name} ({size:,} bytes)")
        click.echo(f"  size:    {m.size:,} bytes encoded -> {relative(m.path)}")
    for m in result.messages:
        if m.state != "dry-run":
            click.echo(f"{m.state:<10} {m.report}: {m.detail}", err=m.state == "failed")
    failed = [m for m in result.messages if m.state == "failed"]
    if failed:
        raise reportc.SendFailed(
            [reportc.Problem(f"report '{m.report}': failed: {m.detail}") for m in failed]
        )


def _document(result: reportc.SendResult, show: bool) -> dict[str, Any]:
    """The run as one JSON document (see schema/output-send-v1.schema.json)."""
    return {
        "schema_version": 1,
        "command": "send",
        "ok": result.ok,
        "exit_code": 0 if result.ok else 1,
        "run_id": result.run_id,
        "transport": result.transport,
        "dry_run": result.dry_run,
        "outbox": str(result.outbox) if result.outbox else None,
        "messages": [
            {
                "report": m.report,
                "state": str(m.state),
                "to": list(m.to) if m.channel else [addr(a, show) for a in m.to],
                "channel": m.channel,
                "cc": [addr(a, show) for a in m.cc],
                "bcc_count": m.bcc_count,
                "subject": m.subject,
                "message_id": m.message_id,
                "detail": m.detail,
            }
            for m in result.messages
        ],
        "notes": list(result.notes),
        "stopped": result.stopped,
        "problems": [],
    }
