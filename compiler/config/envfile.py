"""The operator's env file (``KEY=value`` lines) used for ``${VAR}`` interpolation.

Format: one ``KEY=value`` per line, optional ``export`` prefix, ``#`` comments,
values optionally in single or double quotes. The process environment wins over
the file, so CI can override what an operator keeps on disk. Values are never
logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError, Location, Problem

_LINE_RE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


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
    values: dict[str, str] = {}
    problems = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE_RE.match(line)
        if not match:
            problems.append(
                Problem(
                    "expected KEY=value",
                    Location(display, n, 1),
                    hint="e.g. CEO_EMAIL=ceo@example.com",
                )
            )
            continue
        key, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    if problems:
        raise ConfigError(problems)
    return values


def text_byte(exc: UnicodeDecodeError) -> str:
    return f"{exc.object[exc.start]:02x}"


def merged_environment(
    file_values: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, str]:
    """The env file, overridden by the process environment (where set and not empty)."""
    return {**file_values, **{k: v for k, v in environ.items() if v != ""}}
