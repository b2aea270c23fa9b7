"""``reportc archive``: store the built reports of the period as a run."""

from __future__ import annotations

from pathlib import Path

import click

import reportc

from .common import Settings, absolute, echo_archived, out_option, pass_settings, period_option


@click.command(name="archive")
@out_option("The built reports' folder (default: dist/ in the project).")
@period_option
@click.option(
    "--allow-failed-checks", is_flag=True, help="Archive reports blocked by failed checks."
)
@pass_settings
def command(
    settings: Settings, out_dir: Path | None, period: str | None, allow_failed_checks: bool
) -> None:
    """Archive the built reports of the period as a run (after sharded builds, say)."""
    project = settings.load(period)
    echo_archived(
        reportc.archive_run(
            project, out_dir=absolute(out_dir), allow_failed_checks=allow_failed_checks
        )
    )
