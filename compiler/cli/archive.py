"""``reportc archive``: store the built reports of the period as a run."""

from __future__ import annotations

import click

import reportc

from .common import Settings, echo_archived, out_option, outputs, pass_settings, period_option


@click.command(name="archive")
@out_option("The built reports' folder (default: dist/ in the project).")
@period_option
@click.option(
    "--allow-failed-checks", is_flag=True, help="Archive reports blocked by failed checks."
)
@pass_settings
def command(
    settings: Settings, out_dir: str | None, period: str | None, allow_failed_checks: bool
) -> None:
    """Archive the built reports of the period as a run (after sharded builds, say).

    --out s3://bucket/prefix archives what sharded builds wrote there."""
    project = settings.load(period)
    with outputs(project, out_dir, files=True, publish=False) as folder:
        run = reportc.archive_run(project, out_dir=folder, allow_failed_checks=allow_failed_checks)
    echo_archived(run)
