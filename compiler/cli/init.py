"""``reportc init``: write a first project that builds at once."""

from __future__ import annotations

from pathlib import Path

import click

import reportc

from .common import Settings, pass_settings, relative, say


@click.command(name="init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@pass_settings
def command(settings: Settings, directory: Path | None) -> None:
    """Write a first project into DIRECTORY (default: -C or REPORTC_PROJECT, else here).

    One persona, two sections, one data file, an example env file, a .gitignore and a
    copy of the JSON Schema for editors. Nothing is overwritten.
    """
    # a project found further up is not where a new one goes: here, unless one is named
    target = directory or (settings.directory if settings.named else Path.cwd())
    for path in reportc.init_project(target):
        say(f"wrote {relative(path)}")
    where = "" if target.resolve() == Path.cwd().resolve() else f" -C {relative(target)}"
    say(
        f"next: reportc{where} build   (then open dist/team.pdf), and reportc{where} send --dry-run"
    )
