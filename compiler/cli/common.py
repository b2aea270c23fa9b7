"""What the commands share: the global settings, common options, and small printers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import reportc


class Settings:
    """The global options (``-C``, ``--config``, ``--env-file``), and loading with them."""

    def __init__(
        self, directory: Path, config: str, env_file: str | None, *, named: bool = True
    ) -> None:
        self.directory = directory
        self.config = config
        self.env_file = env_file
        #: named by -C or REPORTC_PROJECT (rather than found up the tree, or assumed)
        self.named = named

    def load(self, period: str | None = None) -> reportc.Project:
        return reportc.load_project(
            self.directory, config=self.config, env_file=self.env_file, period=period
        )


pass_settings = click.make_pass_decorator(Settings)


def out_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--out",
        "out_dir",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help=text,
    )


period_option = click.option(
    "--period",
    default=None,
    help="Reporting period: YYYY-MM, YYYY-Qn or YYYY (default: from reports.yaml, "
    "else the last complete month).",
)


def absolute(path: Path | None) -> Path | None:
    """A path given on the command line, relative to where the command runs."""
    return Path.cwd() / path if path is not None and not path.is_absolute() else path


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def addr(value: str, show: bool) -> str:
    """An address as printed: masked unless ``--show-addresses``."""
    return value if show else reportc.mask(value)


def echo_archived(result: Any) -> None:
    if result.state == "unchanged":
        click.echo(f"archive: unchanged since run {result.run.run_id} ({result.url})")
    else:
        click.echo(f"archive: run {result.run.run_id} stored in {result.url}/{result.run.period}/")


def on_terminal() -> bool:
    return sys.stderr.isatty()


def relative(path: Path | str) -> str:
    return os.path.relpath(path)


def emit_json(make: Callable[[], dict[str, Any]], partial: dict[str, Any] | None = None) -> None:
    """Print the document ``make`` returns; a reportc error becomes a document too:
    ``partial`` (what ``make`` had filled in so far) plus the error's kind, exit code
    and positioned problems. The exit code is the document's."""
    try:
        doc = make()
    except reportc.ReportcError as exc:
        doc = {
            **(partial or {}),
            "ok": False,
            "error": type(exc).__name__.removesuffix("Error").lower() or "error",
            "exit_code": exc.exit_code,
            "problems": [p.to_json() for p in exc.problems],
        }
    click.echo(json.dumps(doc, indent=2, default=str))
    if doc.get("exit_code"):
        raise SystemExit(int(doc["exit_code"]))
