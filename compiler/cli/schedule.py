"""``reportc schedule``: when each report is sent, or definitions that send it."""

from __future__ import annotations

import json
import sys

import click

import reportc

from .common import Settings, pass_settings


@click.command(name="schedule")
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document (schema: output-schedule-v1.schema.json).",
)
@pass_settings
def command(settings: Settings, emit: str | None, count: int, as_json: bool) -> None:
    """When each report is sent (schedule: in reports.yaml)."""
    project = settings.load()
    if emit is not None:
        executable = reportc.running_executable(sys.argv[0])
        click.echo(reportc.emit_schedule(project, emit, executable), nl=False)
        return
    planned = reportc.plan_schedules(project, reportc.utc_now(), count)
    if as_json:
        doc = {
            "schema_version": 1,
            "command": "schedule",
            "reports": [
                {
                    "report": item.report,
                    "cron": item.schedule.cron,
                    "timezone": item.schedule.timezone,
                    "next_runs": [r.isoformat() for r in item.next_runs],
                }
                for item in planned
            ],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    if not planned:
        click.echo("no report has a schedule (add schedule: {cron: ..., timezone: ...})")
        return
    for item in planned:
        runs = ", ".join(r.strftime("%Y-%m-%d %H:%M %Z") for r in item.next_runs)
        click.echo(
            f"{item.report:<12} {item.schedule.cron:<16} {item.schedule.timezone:<22} next: {runs}"
        )
