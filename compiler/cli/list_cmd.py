"""``reportc list``: the reports, their sections and recipients (addresses masked)."""

from __future__ import annotations

import json
from typing import Any

import click

import reportc

from .common import Settings, pass_settings


@click.command(name="list")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document (schema: output-list-v1.schema.json).",
)
@pass_settings
def command(settings: Settings, as_json: bool) -> None:
    """Show personas, their sections and recipients (addresses masked)."""
    project = settings.load()
    if as_json:
        click.echo(json.dumps(_document(project), indent=2))
        return
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


def _document(project: reportc.Project) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "command": "list",
        "personas": [
            {
                "name": name,
                "title": report.title,
                "burst": report.for_each is not None,
                "sections": [{"name": s.name, "type": s.type} for s in report.sections],
                "recipients": {
                    kind: [reportc.mask(a) for a in getattr(report.recipients, kind)]
                    for kind in ("to", "cc", "bcc")
                },
            }
            for name, report in project.personas.items()
        ],
        "audit_bcc": [reportc.mask(a) for a in project.delivery.audit_bcc],
    }
