"""Email address checks shared by validation and message building."""

from __future__ import annotations

import re
from email.utils import parseaddr

_ADDR_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def address_problem(value: str) -> str | None:
    """Why ``value`` is not a usable address (``Name <a@b.c>`` or ``a@b.c``), or None."""
    if any(ch in value for ch in "\r\n\x00"):
        return "line breaks are not allowed in an email address (header injection)"
    name, addr = parseaddr(value)
    if not addr or not _ADDR_RE.match(addr):
        return f"'{value}' is not a valid email address"
    if "<" not in value and name:
        return f"'{value}' is not a valid email address"
    return None


def bare_address(value: str) -> str:
    return parseaddr(value)[1]


def mask(value: str) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com`` (for listings and logs)."""
    addr = bare_address(value) or value
    local, _, domain = addr.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
