"""The operator's env file (``KEY=value`` lines) used for ``${VAR}`` interpolation.

Read with python-dotenv's own parser, so the syntax is exactly that package's:
``export``, ``#`` comments, single and double quotes, escapes in double quotes,
``${VAR}`` expansion (from earlier lines and the environment) and multi-line quoted
values. A line it cannot parse is reported at ``file:line``, every one at once. The
process environment wins over the file, so CI can override what an operator keeps on
disk. Values are never logged.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from ..errors import ConfigError, Location, Problem


def read_env_file(path: Path, display: str) -> dict[str, str]:
    """Parse an env file; every malformed line is reported at once."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            Problem(
                "env file not found",
                Location(display),
                hint="create it from the .example file beside it, or pass --env-file",
            )
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            Problem(f"env file is not UTF-8 (byte 0x{text_byte(exc)})", Location(display))
        ) from None
    problems = [
        Problem("expected KEY=value", Location(display, b.original.line, 1), hint=_HINT)
        for b in parse_stream(io.StringIO(text))
        if b.error
    ]
    if problems:
        raise ConfigError(problems)
    parsed = dotenv_values(stream=io.StringIO(text), interpolate=True)
    return {key: value for key, value in parsed.items() if value is not None}


_HINT = 'e.g. CEO_EMAIL=ceo@example.com (quote a value with spaces or #: NAME="a # b")'


def text_byte(exc: UnicodeDecodeError) -> str:
    return f"{exc.object[exc.start]:02x}"


def merged_environment(
    file_values: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, str]:
    """The env file, overridden by the process environment (where set and not empty)."""
    return {**file_values, **{k: v for k, v in environ.items() if v != ""}}
