"""The ``reportc`` command: global options, one module per command, and ``run``.

Each command module parses its options, calls the public API (:mod:`reportc`, and
nothing else of the package) and prints. ``run`` is the console entry point: no
Python traceback reaches a user, for any input.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

import click

import reportc

from .common import Invocation, Settings

#: exit code for a failure reportc did not foresee (a bug, or the machine: memory, disk)
INTERNAL_ERROR = 70

#: command -> its module in this package (each defines ``command``, or ``group``)
COMMANDS = {
    "archive": "archive",
    "build": "build",
    "deploy": "deploy",
    "diff": "diff",
    "events": "events",
    "history": "history",
    "init": "init",
    "list": "list_cmd",
    "preview": "preview",
    "schedule": "schedule",
    "schema": "schema",
    "send": "send",
    "status": "status",
    "validate": "validate",
}


class _Commands(click.Group):
    """Loads a command's module only when that command runs (click's lazy group)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = import_module(f"{__name__}.{COMMANDS[cmd_name]}")
        found = getattr(module, "group", None) or module.command
        assert isinstance(found, click.Command)
        return found


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project directory (default: REPORTC_PROJECT, else the nearest folder up from "
    "here that holds reports.yaml, else here).",
)
@click.option(
    "--config",
    default=reportc.DEFAULT_CONFIG,
    show_default=True,
    help="Project file, relative to the project directory.",
)
@click.option(
    "--env-file",
    default=None,
    help="Env file for ${VAR} values (default: repos.env in the project, if present).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only errors: nothing at all when all is well."
)
@click.option(
    "-v", "--verbose", count=True, help="Log what each stage does (-vv: and the details)."
)
@click.option(
    "--log-format",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="Diagnostics on stderr as text, or one JSON object per line (with the run id).",
)
@click.version_option(reportc.reportc_version(), prog_name="reportc")
@click.pass_context
def main(
    ctx: click.Context,
    directory: Path,
    config: str,
    env_file: str | None,
    quiet: bool,
    verbose: int,
    log_format: str,
) -> None:
    """reportc: compile reports.yaml into PDF reports."""
    run_id = reportc.new_run_id(reportc.utc_now())
    verbosity = -1 if quiet else verbose
    masker = reportc.configure_logging(
        verbosity=verbosity,
        fmt=log_format,
        run_id=run_id,
        secrets=reportc.secret_values(os.environ),
    )
    named = directory is not None or bool(os.environ.get("REPORTC_PROJECT", "").strip())
    if directory is None:
        directory, _ = reportc.find_project(Path.cwd(), config, os.environ)
    if not directory.is_dir():
        where = "-C" if "REPORTC_PROJECT" not in os.environ else "-C or REPORTC_PROJECT"
        raise click.BadParameter(f"'{directory}' is not a directory", param_hint=where)
    given = ctx.obj if isinstance(ctx.obj, Invocation) else None  # set by run(); not by tests
    ctx.obj = Settings(
        directory,
        config,
        env_file,
        named=named,
        verbosity=verbosity,
        run_id=run_id,
        masker=masker,
        argv=given.argv if given else None,
        zygote=given.zygote if given else None,
    )


def run(argv: Sequence[str] | None = None, *, zygote: reportc.Zygote | None = None) -> None:
    """The ``reportc`` command: no Python traceback reaches a user, for any input.

    Errors reportc knows are shown by click with their positions. Anything else (a
    bug, memory or disk exhausted, input nested beyond Python's recursion limit) is
    one line saying what happened and what to do; ``REPORTC_DEBUG=1`` shows the
    traceback for a bug report.
    """
    try:
        reportc.limit_memory(_memory_mb())
        args = list(argv) if argv is not None else sys.argv[1:]
        # obj: the command line as given (a no-change build's stamp records it)
        given = Invocation(tuple(args), zygote)
        main.main(args=globals_first(args), prog_name="reportc", obj=given)
    except SystemExit:
        raise
    except MemoryError:
        _internal("out of memory", "lower the data or --max-memory, or use a bigger machine")
    except RecursionError:
        _internal(
            "the input is nested too deeply to process",
            "look for deeply nested YAML or JSON, or a template that includes itself",
        )
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        _internal(f"{exc.strerror or exc}{where}", "check free disk space and permissions")
    except Exception as exc:
        _internal(
            f"unexpected {type(exc).__name__}: {str(exc)[:300]}",
            "this is a bug in reportc; run again with REPORTC_DEBUG=1 and report the output",
        )


#: global options a user may also give after the command (``reportc build -q``)
_MOVABLE_FLAGS = {"-q", "--quiet", "-v", "-vv", "-vvv", "--verbose"}
_GLOBAL_VALUES = {"-C", "--config", "--env-file", "--log-format"}


def globals_first(args: list[str]) -> list[str]:
    """``-q``, ``-v`` and ``--log-format F`` found after the command moved before it, where
    click reads global options; everything else as it was (nothing after ``--``)."""
    i = 0
    while i < len(args) and args[i] not in COMMANDS:
        i += 2 if args[i] in _GLOBAL_VALUES else 1
    if i >= len(args):
        return args
    head, command, rest = args[:i], args[i], args[i + 1 :]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == "--":
            kept += rest[j:]
            break
        if token in _MOVABLE_FLAGS or token.startswith("--log-format="):
            moved.append(token)
        elif token == "--log-format" and j + 1 < len(rest):
            moved += rest[j : j + 2]
            j += 1
        else:
            kept.append(token)
        j += 1
    return [*head, *moved, command, *kept]


def _memory_mb() -> int:
    """REPORTC_MAX_MEMORY (MB, 0: no limit), else the default."""
    value = os.environ.get("REPORTC_MAX_MEMORY", "").strip()
    return int(value) if value.isdigit() else reportc.DEFAULT_MEMORY_MB


def _internal(message: str, hint: str) -> None:
    if os.environ.get("REPORTC_DEBUG"):
        raise
    reportc.get_logger("cli").error(f"{message}\n    hint: {hint}")
    sys.exit(INTERNAL_ERROR)
