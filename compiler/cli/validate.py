"""``reportc validate``: check reports.yaml, load the data, render every report."""

from __future__ import annotations

import click

import reportc

from .common import Settings, pass_settings, period_option, plural


@click.command(name="validate")
@period_option
@pass_settings
def command(settings: Settings, period: str | None) -> None:
    """Check reports.yaml, load every data source, render every report and compose its
    email (nothing is written or sent)."""
    project = settings.load(period)
    checked = reportc.validate(project)
    burst = f" (+{checked.burst} burst)" if checked.burst else ""
    click.echo(
        f"{project.config_name}: valid — {plural(checked.reports - checked.burst, 'report')}"
        f"{burst}, "
        f"{plural(len(project.sources), 'source')}, {plural(len(project.metrics), 'metric')}, "
        f"period {project.period.label}"
    )
