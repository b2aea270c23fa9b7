"""Diagnostics through the standard :mod:`logging` module: the ``reportc`` logger tree.

Library modules log to ``reportc.<stage>`` loggers and never configure logging; the
command line attaches one handler (:func:`configure`) that writes text or one JSON
object per line to stderr. Every record carries the run id, and every message is
masked on its way out: addresses read as ``j***@example.com``, the values of secret
variables (names like ``*_PASSWORD``, ``*_TOKEN``, ``*SECRET*``) as ``***``, and the
password in a URL's ``user:password@`` as ``***``, at every level.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from typing import IO

#: the root of reportc's loggers
ROOT = "reportc"

#: variable names whose values are credentials (never interpolated, always masked)
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|ACCESS_KEY|API_KEY|CREDENTIAL")

LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}

_ADDRESS = re.compile(r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^/\s:@]+):[^/\s@]+@", re.I)


def new_run_id(when: dt.datetime) -> str:
    """A run's id: its UTC start time and 6 random hex digits (``20261002T070000Z-3fa2c1``)."""
    return when.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def get_logger(stage: str) -> logging.Logger:
    """The logger of one stage (``reportc.<stage>``)."""
    return logging.getLogger(f"{ROOT}.{stage}")


def level_for(verbosity: int) -> int:
    """``-q`` (-1) errors only, default warnings, ``-v`` info, ``-vv`` and more debug."""
    return LEVELS.get(verbosity, logging.DEBUG if verbosity > 1 else logging.ERROR)


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the secret-named variables in ``env`` (4 characters or more)."""
    return tuple(v for k, v in env.items() if SECRET_NAME.search(k.upper()) and len(v) >= 4)


class Masker:
    """Masks addresses, URL passwords and known secret values in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Also mask these values (longest first, so a secret inside another goes too)."""
        merged = {*self._secrets, *(s for s in secrets if s)}
        self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, "***")
        text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:***@", text)
        return _ADDRESS.sub(_mask_address, text)


def _mask_address(m: re.Match[str]) -> str:
    if m.group(1).strip("*") == "":  # already masked (a URL's password)
        return m.group(0)
    return f"{m.group(1)[:1]}***@{m.group(2)}"


class _Formatter(logging.Formatter):
    """Text (``level: message``) or JSON lines, masked, with the run id."""

    def __init__(self, fmt: str, run_id: str, masker: Masker) -> None:
        super().__init__()
        self.json, self.run_id, self.masker = fmt == "json", run_id, masker

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        message = self.masker(message)
        if not self.json:
            bare = getattr(record, "bare", False)
            return message if bare else f"{record.levelname.lower()}: {message}"
        doc = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": self.run_id,
            "message": message,
        }
        for key in ("report", "event", "state"):
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = self.masker(str(value))
        return json.dumps(doc, ensure_ascii=False)


class _Handler(logging.Handler):
    """reportc's own handler (configuring again replaces it, never stacks). Without a
    stream it writes to whatever ``sys.stderr`` is when a record is emitted."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def configure(
    *,
    verbosity: int = 0,
    fmt: str = "text",
    run_id: str = "",
    stream: IO[str] | None = None,
    secrets: Iterable[str] = (),
) -> Masker:
    """Send the ``reportc`` loggers to ``stream`` (stderr) at the verbosity's level.

    Returns the masker, to which the caller adds secret values it learns later (an env
    file's). Called by the command line only; the library never configures logging.
    """
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(old)
    masker = Masker(secrets)
    handler = _Handler(stream)
    handler.setFormatter(_Formatter(fmt, run_id, masker))
    logger.addHandler(handler)
    logger.setLevel(level_for(verbosity))
    logger.propagate = False
    return masker
