"""``reportc history``: archived runs, newest first, and whether each was sent."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import click

import reportc

from .common import Settings, pass_settings, plural


def _when(stamp: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(stamp).astimezone(dt.timezone.utc)
    except ValueError:
        return stamp
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _sent_summary(project: reportc.Project, runs: Sequence[Any]) -> dict[tuple[str, str], str]:
    """(report, pdf sha256) -> when and to how many it was really sent, from the ledger."""
    out: dict[tuple[str, str], str] = {}
    with reportc.existing_ledger(project) as ledger:
        if ledger is None:
            return out
        for run in runs:
            for name, rec in run.reports.items():
                sha = rec.get("pdf_sha256", "")
                copies = ledger.sent_copies(name, sha) if sha else []
                if copies:
                    people = sum(len(c.to) + len(c.cc) for c in copies)
                    when = _when(copies[0].updated_at)
                    out[(name, sha)] = f"sent {when} ({plural(people, 'recipient')})"
    return out


@click.command(name="history")
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
@pass_settings
def command(
    settings: Settings, period_filter: str | None, report: str | None, limit: int, as_json: bool
) -> None:
    """List archived runs, newest first: period, reports, PDF sha256, sent or not."""
    project = settings.load()
    store = reportc.open_store(project)
    runs = [r for r in reportc.list_runs(store) if not period_filter or r.period == period_filter]
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
            f"{plural(len(names), 'report')}, {went} sent"
        )
        for name in names:
            rec = run.reports[name]
            sha = rec.get("pdf_sha256", "")
            state = sent.get((name, sha), "not sent")
            flag = "" if rec.get("status") == "ok" else f" [{rec.get('status')}]"
            click.echo(f"    {name:<14} sha256 {sha[:12] or '-':<12}  {state}{flag}")
