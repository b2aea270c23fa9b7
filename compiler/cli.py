"""The ``reportc`` command: parse options, call the library API, print, exit.

Global options come before the command, as in git: ``reportc -C DIR build``.
Nothing here knows how reports are made; see :mod:`reportc.pipeline`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import pipeline
from .addresses import mask
from .config import DEFAULT_CONFIG, Project, load_project
from .errors import ReportcError
from .resources import project_schema


class Settings:
    def __init__(self, directory: Path, config: str, env_file: str | None) -> None:
        self.directory = directory
        self.config = config
        self.env_file = env_file

    def load(self, period: str | None = None) -> Project:
        return load_project(
            self.directory, config=self.config, env_file=self.env_file, period=period
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="Project directory (default: the current directory).",
)
@click.option(
    "--config",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Project file, relative to the project directory.",
)
@click.option(
    "--env-file",
    default=None,
    help="Env file for ${VAR} values (default: repos.env in the project, if present).",
)
@click.version_option(pipeline.reportc_version(), prog_name="reportc")
@click.pass_context
def main(ctx: click.Context, directory: Path, config: str, env_file: str | None) -> None:
    """reportc: compile reports.yaml into PDF reports."""
    if not directory.is_dir():
        raise click.BadParameter(f"'{directory}' is not a directory", param_hint="-C")
    ctx.obj = Settings(directory, config, env_file)


period_option = click.option(
    "--period",
    default=None,
    help="Reporting period: YYYY-MM, YYYY-Qn or YYYY (default: from reports.yaml, "
    "else the last complete month).",
)


@main.command()
@period_option
@click.pass_obj
def validate(settings: Settings, period: str | None) -> None:
    """Check reports.yaml, load every data source, and render every report (no writes)."""
    project = settings.load(period)
    pipeline.validate(project)
    click.echo(
        f"{project.config_name}: valid — {_plural(len(project.reports), 'report')}, "
        f"{_plural(len(project.sources), 'source')}, {_plural(len(project.metrics), 'metric')}, "
        f"period {project.period.label}"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _progress_printer() -> pipeline.Progress | None:
    if not sys.stderr.isatty():
        return None

    def show(event: str, name: str, index: int, total: int, detail: str) -> None:
        if event == "start":
            click.echo(f"[{index}/{total}] {name}: rendering …", err=True)
        elif event == "done":
            click.echo(f"[{index}/{total}] {name}: done ({detail})", err=True)
        else:
            click.echo(f"[{index}/{total}] {name}: FAILED", err=True)

    return show


@main.command()
@click.option(
    "--persona",
    "personas",
    multiple=True,
    metavar="NAME",
    help="Build only this persona's report (repeatable).",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: dist/ in the project).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(pipeline.FORMATS),
    help="Output format (repeatable; default: html and pdf).",
)
@period_option
@click.pass_obj
def build(
    settings: Settings,
    personas: tuple[str, ...],
    out_dir: Path | None,
    formats: tuple[str, ...],
    period: str | None,
) -> None:
    """Build the reports to HTML and PDF, and write manifest.json."""
    project = settings.load(period)
    if out_dir is not None and not out_dir.is_absolute():
        out_dir = Path.cwd() / out_dir
    result = pipeline.build(
        project,
        reports=personas or None,
        out_dir=out_dir,
        formats=formats or pipeline.FORMATS,
        progress=_progress_printer(),
    )
    shown = os.path.relpath(result.out_dir)
    for r in result.reports:
        if r.ok:
            pdf = r.files.get("pdf")
            what = ", ".join(os.path.join(shown, f.path) for f in r.files.values())
            pages = f" ({_plural(pdf.pages, 'page')})" if pdf and pdf.pages else ""
            click.echo(f"ok      {r.name:<12} {what}{pages}")
            for url in r.refused_urls:
                click.echo(f"warning: report '{r.name}': refused to fetch {url}", err=True)
        else:
            click.echo(f"FAILED  {r.name:<12} see below", err=True)
    built = sum(1 for r in result.reports if r.ok)
    click.echo(
        f"{built} of {_plural(len(result.reports), 'report')} built for {project.period.title} "
        f"into {shown}/ (manifest: {os.path.join(shown, pipeline.MANIFEST)})"
    )
    result.raise_for_failures()


@main.command(name="list")
@click.pass_obj
def list_reports(settings: Settings) -> None:
    """Show personas, their sections and recipients (addresses masked)."""
    project = settings.load()
    for name, report in project.reports.items():
        click.echo(f"{name}: {report.title}")
        click.echo("  sections: " + ", ".join(f"{s.name} ({s.type})" for s in report.sections))
        for kind in ("to", "cc", "bcc"):
            addrs = getattr(report.recipients, kind)
            if addrs:
                click.echo(f"  {kind}: " + ", ".join(mask(a) for a in addrs))
    if project.delivery.audit_bcc:
        click.echo(
            "audit bcc (all reports): " + ", ".join(mask(a) for a in project.delivery.audit_bcc)
        )


@main.command()
def schema() -> None:
    """Print the JSON Schema of reports.yaml (for editors and CI linting)."""
    data: dict[str, Any] = project_schema()
    click.echo(json.dumps(data, indent=2))


def run() -> None:  # pragma: no cover
    main(prog_name="reportc")


if __name__ == "__main__":  # pragma: no cover
    try:
        run()
    except ReportcError as exc:
        exc.show()
        sys.exit(exc.exit_code)
