"""What the commands share: the global settings, common options, and small printers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

import reportc


@dataclass(frozen=True)
class Invocation:
    """What the console command hands the CLI: the command line as given, and a warm
    PDF worker template it may have started early (see :mod:`reportc.entry`)."""

    argv: tuple[str, ...]
    zygote: reportc.Zygote | None = None


class Settings:
    """The global options (``-C``, ``--config``, ``--env-file``, ``-q``/``-v``), the
    run id every log record carries, and loading with them."""

    def __init__(
        self,
        directory: Path,
        config: str,
        env_file: str | None,
        *,
        named: bool = True,
        verbosity: int = 0,
        run_id: str | None = None,
        masker: reportc.Masker | None = None,
        argv: tuple[str, ...] | None = None,
        zygote: reportc.Zygote | None = None,
    ) -> None:
        self.directory = directory
        self.config = config
        self.env_file = env_file
        #: named by -C or REPORTC_PROJECT (rather than found up the tree, or assumed)
        self.named = named
        #: -1 quiet, 0 default, 1 and more verbose
        self.verbosity = verbosity
        self.run_id = run_id or reportc.new_run_id(reportc.utc_now())
        self.masker = masker
        #: the command line as the user gave it, when the console command ran (``run``)
        self.argv = argv
        #: PDF workers' template, started by the console command before loading anything
        self.zygote = zygote

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def load(self, period: str | None = None) -> reportc.Project:
        project = reportc.load_project(
            self.directory, config=self.config, env_file=self.env_file, period=period
        )
        if self.masker is not None:  # the env file's secrets are masked in logs from now on
            self.masker.add(reportc.secret_values(project.env))
        return project


pass_settings = click.make_pass_decorator(Settings)


def out_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--out", "out_dir", default=None, metavar="DIR|s3://BUCKET/PREFIX", help=text
    )


@contextlib.contextmanager
def outputs(
    project: reportc.Project, out: str | None, *, files: bool, publish: bool
) -> Iterator[Path | None]:
    """The folder a command works on for ``--out``: the folder itself, or for an S3
    prefix a staging folder pulled from it (``files``: the built files too) and, with
    ``publish``, pushed back (manifests last) when the block ends without an error."""
    if reportc.is_remote(out):
        assert out is not None
        with reportc.staged_outputs(project, out, files=files, publish=publish) as stage:
            yield stage
        return
    yield absolute(Path(out)) if out else None


period_option = click.option(
    "--period",
    default=None,
    help="Reporting period: YYYY-MM, YYYY-Qn or YYYY (default: from reports.yaml, "
    "else the last complete month).",
)


def absolute(path: Path | None) -> Path | None:
    """A path given on the command line, relative to where the command runs."""
    return Path.cwd() / path if path is not None and not path.is_absolute() else path


class _Tee(io.TextIOBase):
    """Writes to ``stream`` and keeps a copy."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return int(self.stream.write(text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return bool(self.stream.isatty())


@contextlib.contextmanager
def recorded() -> Iterator[list[str]]:
    """What the block prints: after it, the list holds [stdout text, stderr text]."""
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    printed: list[str] = []
    try:
        yield printed
    finally:
        sys.stdout, sys.stderr = saved
        printed += [out.copy.getvalue(), err.copy.getvalue()]


def say(text: str = "", *, err: bool = False) -> None:
    """A line of a command's report on what it did: left out with ``-q`` (errors are
    shown through logging, and a command's requested listing with plain echo)."""
    ctx = click.get_current_context(silent=True)
    settings = ctx.find_object(Settings) if ctx is not None else None
    if settings is None or not settings.quiet:
        click.echo(text, err=err)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def addr(value: str, show: bool) -> str:
    """An address as printed: masked unless ``--show-addresses``."""
    return value if show else reportc.mask(value)


def echo_archived(result: Any) -> None:
    if result.state == "unchanged":
        say(f"archive: unchanged since run {result.run.run_id} ({result.url})")
    else:
        say(f"archive: run {result.run.run_id} stored in {result.url}/{result.run.period}/")


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
