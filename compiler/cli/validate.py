"""``reportc validate``: check reports.yaml, load the data, render every report and
compose its email (nothing written or sent); ``--json`` for machines."""

from __future__ import annotations

from typing import Any

import click

import reportc

from .common import Settings, emit_json, pass_settings, period_option, plural, say


@click.command(name="validate")
@period_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document (schema: output-validate-v1.schema.json), problems too.",
)
@pass_settings
def command(settings: Settings, period: str | None, as_json: bool) -> None:
    """Check reports.yaml, load every data source, render every report and compose its
    email (nothing is written or sent)."""
    if as_json:
        _as_json(settings, period)
        return
    project = settings.load(period)
    checked = reportc.validate(project)
    burst = f" (+{checked.burst} burst)" if checked.burst else ""
    say(
        f"{project.config_name}: valid — {plural(checked.reports - checked.burst, 'report')}"
        f"{burst}, "
        f"{plural(len(project.sources), 'source')}, {plural(len(project.metrics), 'metric')}, "
        f"period {project.period.label}"
    )


def _as_json(settings: Settings, period: str | None) -> None:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "command": "validate",
        "ok": False,
        "config": settings.config,
        "period": None,
        "problems": [],
    }

    def check() -> dict[str, Any]:
        project = settings.load(period)
        doc["period"] = project.period.label
        doc.update(sources=len(project.sources), metrics=len(project.metrics))
        checked = reportc.validate(project)
        return {**doc, "ok": True, "reports": checked.reports, "burst": checked.burst}

    emit_json(check, partial=doc)
