"""``reportc list``: the reports, their sections and recipients (addresses masked)."""

from __future__ import annotations

import click

import reportc

from .common import Settings, pass_settings


@click.command(name="list")
@pass_settings
def command(settings: Settings) -> None:
    """Show personas, their sections and recipients (addresses masked)."""
    project = settings.load()
    for name, report in project.personas.items():
        click.echo(f"{name}: {report.title}")
        click.echo("  sections: " + ", ".join(f"{s.name} ({s.type})" for s in report.sections))
        for kind in ("to", "cc", "bcc"):
            addrs = getattr(report.recipients, kind)
            if addrs:
                click.echo(f"  {kind}: " + ", ".join(reportc.mask(a) for a in addrs))
    if project.delivery.audit_bcc:
        click.echo(
            "audit bcc (all reports): "
            + ", ".join(reportc.mask(a) for a in project.delivery.audit_bcc)
        )
