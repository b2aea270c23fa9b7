"""``reportc diff``: which figures changed between two archived runs."""

from __future__ import annotations

import json
from typing import Any

import click

import reportc

from .common import Settings, pass_settings, plural


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


@click.command(name="diff")
@click.argument("run_a", default="previous")
@click.argument("run_b", default="latest")
@click.option("--persona", "report", default=None, metavar="NAME", help="Only this report.")
@click.option("--all", "show_all", is_flag=True, help="List unchanged figures too.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@pass_settings
def command(
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
    project = settings.load()
    store = reportc.open_store(project)
    runs = reportc.list_runs(store)
    a, b = reportc.resolve_run(runs, run_a), reportc.resolve_run(runs, run_b)
    va, vb = reportc.load_values(store, a), reportc.load_values(store, b)
    if report is not None:
        va = {k: v for k, v in va.items() if k == report}
        vb = {k: v for k, v in vb.items() if k == report}
    changes = reportc.diff_runs(va, vb, include_same=show_all)
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
    click.echo(f"{plural(moved, 'figure')} changed")
