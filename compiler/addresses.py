"""Email addresses: one strict parser shared by validation, bursting and composing.

A recipient value is exactly one mailbox: ``addr@example.com`` or
``Display Name <addr@example.com>`` (the name may be a quoted string). Anything
the lenient ``email.utils.parseaddr`` of Python 3.11 would quietly make sense
of - a second ``<...>``, an unquoted comma, a group, a comment, a line break or
another control character - is refused with a reason, so the address a value
*shows* is always the address it *is*. :func:`header_value` formats a mailbox
for a header the way the stdlib parser reads back unchanged (a quoted or
RFC 2047-encoded name), and :func:`header_addresses` is the reading used to
check it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email.header import Header

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_RE = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
#: characters that cannot appear unquoted in a display name without changing its meaning
_SPECIALS = set('<>@,;:"\\()[]')
#: an ASCII display name of these characters needs no quoting at all
_ATOM_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$")
MAX_NAME = 200


class AddressError(ValueError):
    """The value is not exactly one usable mailbox; the message says why."""


@dataclass(frozen=True)
class Mailbox:
    name: str
    addr: str

    @property
    def key(self) -> str:
        """The address as the ledger and the suppression list compare it."""
        return self.addr.lower()


def _control(value: str) -> str | None:
    for ch in value:
        if ch in "\r\n\x0b\x0c\x85\u2028\u2029":
            return "line breaks are not allowed in an email address (header injection)"
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"the control character U+{ord(ch):04X} is not allowed in an email address"
    return None


def _check_addr(addr: str, value: str) -> str:
    local, at, domain = addr.partition("@")
    if not at or not _LOCAL_RE.match(local) or not _DOMAIN_RE.match(domain) or len(addr) > 254:
        raise AddressError(f"'{value}' is not a valid email address")
    return addr


def _check_name(name: str, value: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        inner = name[1:-1]
        if '"' in inner or "\\" in inner:
            raise AddressError(f"'{value}': quotes or backslashes inside a quoted display name")
        name = inner
    elif _SPECIALS & set(name):
        bad = "".join(sorted(_SPECIALS & set(name)))
        count = "more than one address" if "," in bad or "<" in bad else "an unclear address"
        raise AddressError(
            f"'{value}' gives {count}: the display name holds {bad!r}; quote the "
            'name ("Doe, Jane" <jane@example.com>) or remove those characters'
        )
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise AddressError(f"'{value[:60]}…': the display name is over {MAX_NAME} characters")
    return name


def parse_mailbox(value: str) -> Mailbox:
    """Exactly one mailbox from ``value``, or :class:`AddressError` saying why not."""
    problem = _control(value)
    if problem:
        raise AddressError(problem)
    text = value.strip()
    if not text:
        raise AddressError("the address is empty")
    if "<" in text or ">" in text:
        match = re.fullmatch(r"([^<>]*)<([^<>]*)>", text)
        if match is None:
            n = max(text.count("<"), text.count(">"))
            raise AddressError(
                f"'{value}' gives {n if n > 1 else 'no'} address"
                f"{'es' if n > 1 else ''} where one was written"
            )
        name = _check_name(match.group(1).strip(), value)
        return Mailbox(name, _check_addr(match.group(2).strip(), value))
    if any(ch in text for ch in ",; "):
        raise AddressError(f"'{value}' gives more than one address where one was written")
    return Mailbox("", _check_addr(text, value))


def address_problem(value: str) -> str | None:
    """Why ``value`` is not exactly one usable address, or None."""
    try:
        parse_mailbox(value)
    except AddressError as exc:
        return str(exc)
    return None


def bare_address(value: str) -> str:
    """The addr-spec of a (validated) value; ``""`` if it is not one mailbox."""
    try:
        return parse_mailbox(value).addr
    except AddressError:
        return ""


def address_key(value: str) -> str:
    """How two recipient values are compared (the ledger, suppressions, idempotency):
    the bare address, lower-cased (``""`` if the value is not one mailbox)."""
    return bare_address(value).lower()


def display_value(box: Mailbox) -> str:
    """``box`` as readable text that :func:`parse_mailbox` reads back as the same mailbox."""
    if not box.name:
        return box.addr
    if _SPECIALS & set(box.name):
        return f'"{box.name}" <{box.addr}>'
    return f"{box.name} <{box.addr}>"


def header_value(box: Mailbox) -> str:
    """``box`` as header text: bare, a plain or quoted name, or an RFC 2047 word."""
    if not box.name:
        return box.addr
    if _ATOM_RE.match(box.name):
        return f"{box.name} <{box.addr}>"
    if box.name.isascii() and box.name.isprintable():
        return f'"{box.name}" <{box.addr}>'
    encoded = Header(box.name, "utf-8", maxlinelen=10_000).encode(linesep=" ")
    return f"{encoded} <{box.addr}>"


def header_addresses(value: str) -> list[str]:
    """The addr-specs a serialized address header names, lower-cased (strictly read)."""
    from email.headerregistry import HeaderRegistry

    header = HeaderRegistry()("To", value)
    return [a.addr_spec.lower() for a in header.addresses]  # type: ignore[attr-defined]


#: how a channel delivery's target reads where an address would (reportc.channels)
CHANNEL_PREFIXES = ("slack:", "webhook:")


def mask(value: str) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com`` (for listings and logs). A
    channel (``slack:C0123``, ``webhook:teams:host``) is shown as it is: it names no
    person, and a webhook is recorded by its host only."""
    if value.startswith(CHANNEL_PREFIXES):
        return value
    addr = bare_address(value) or value
    local, _, domain = addr.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
