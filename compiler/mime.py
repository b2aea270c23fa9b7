"""Package stage: one 7-bit-safe MIME message (:class:`Envelope`) per report.

Structure: ``multipart/mixed`` -> (``multipart/alternative`` -> text/plain +
text/html) + the report PDF (+ optional CSV attachments). The BCC recipients
(the project's audit copy and any per-report BCC) live only in the envelope:
the serialized message never carries a ``Bcc:`` header. Every value that
reaches a header is checked for CR/LF first, so a hostile value is an error
before anything is sent, never an injected header.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import hashlib
import io
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from typing import Any

from .addresses import (
    AddressError,
    Mailbox,
    address_key,
    display_value,
    header_addresses,
    header_value,
    parse_mailbox,
)
from .errors import DeliveryError, Problem


class _HeaderClasses(HeaderRegistry):
    """The email package's header registry, making each header's class once: the stock
    one builds a new class with ``type()`` for every header of every message (about a
    tenth of composing one). The classes are the same; only their making is shared."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


#: 7-bit safe on the wire, CRLF line ends, headers folded at 78 characters.
MIME_POLICY = policy.SMTP.clone(cte_type="7bit", header_factory=_HeaderClasses())
MAX_LINE = 998


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"

    @functools.cached_property
    def sha256(self) -> str:
        """Hashed once (the message key, the ledger and the placeholder all read it)."""
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Envelope:
    """A composed message plus everything the transport and the ledger need."""

    report: str
    key: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    message_id: str
    raw: bytes
    pdf_sha256: str
    attachments: tuple[tuple[str, int], ...] = ()
    redirected_to: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    #: files sent as links instead of attachments, as the ledger records them
    links: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (to, cc, bcc), bare addresses, de-duplicated."""
        seen: list[str] = []
        for addr in (*self.to, *self.cc, *self.bcc):
            bare = address_key(addr)
            if bare not in seen:
                seen.append(bare)
        return tuple(seen)


def check_header(value: str, what: str) -> str:
    """Refuse anything that could end a header line or smuggle in another one."""
    if any(ch in value for ch in ("\r", "\n", "\x00", "\x0b", "\x0c", "\u2028", "\u2029")):
        raise DeliveryError(
            Problem(
                f"{what} contains a line break: {value[:60]!r}",
                hint="line breaks in header values could inject headers; remove them "
                "from the data or template that produced this value",
            )
        )
    return value


def idempotency_key(
    report: str, to: Iterable[str], cc: Iterable[str], bcc: Iterable[str], pdf_sha256: str
) -> str:
    """Same report, same recipients, same PDF -> same key; anything else -> a new key."""
    parts = [
        report,
        "to=" + ",".join(sorted(address_key(a) for a in to)),
        "cc=" + ",".join(sorted(address_key(a) for a in cc)),
        "bcc=" + ",".join(sorted(address_key(a) for a in bcc)),
        pdf_sha256,
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def rows_to_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV for an attachment; cells that a spreadsheet would run as formulas are defused."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col)
            text = "" if value is None else str(value)
            if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
                text = "'" + text
            cells.append(text)
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def compose(
    *,
    report: str,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    reply_to: str = "",
    subject: str,
    text: str,
    html: str,
    attachments: Sequence[Attachment],
    run_id: str,
    when: dt.datetime,
    list_unsubscribe: str = "",
    redirected_to: str = "",
    tags: Mapping[str, str] | None = None,
    pdf_sha256: str = "",
    links: Sequence[str] = (),
) -> Envelope:
    """Build and serialize one message; any problem is a :class:`DeliveryError` for it.

    ``pdf_sha256`` names the report's PDF when it goes as a link (``links``), not as
    the first attachment: the message key is the same either way.

    Nothing else escapes: a value the stdlib's header code cannot fold becomes a
    clear error for this one message, never a crash of the whole run.
    """
    try:
        return _compose(
            report=report,
            sender=sender,
            groups=(("to", to), ("cc", cc), ("bcc", bcc)),
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            attachments=attachments,
            run_id=run_id,
            when=when,
            list_unsubscribe=list_unsubscribe,
            redirected_to=redirected_to,
            tags=tags,
            pdf_sha256=pdf_sha256,
            links=tuple(links),
        )
    except DeliveryError:
        raise
    except Exception as exc:  # the stdlib email package on a value it cannot fold
        raise DeliveryError(
            Problem(
                f"report '{report}': the message could not be composed "
                f"({type(exc).__name__}: {str(exc)[:200]})",
                hint="a subject, display name or file name holds characters email headers "
                "cannot carry; fix the data or template that produced it",
            )
        ) from None


def _mailboxes(report: str, what: str, values: Sequence[str]) -> list[Mailbox]:
    out: list[Mailbox] = []
    for value in values:
        try:
            out.append(parse_mailbox(value))
        except AddressError as exc:
            raise DeliveryError(Problem(f"report '{report}': {what} address: {exc}")) from None
    return out


def _compose(
    *,
    report: str,
    sender: str,
    groups: tuple[tuple[str, Sequence[str]], ...],
    reply_to: str,
    subject: str,
    text: str,
    html: str,
    attachments: Sequence[Attachment],
    run_id: str,
    when: dt.datetime,
    list_unsubscribe: str,
    redirected_to: str,
    tags: Mapping[str, str] | None,
    pdf_sha256: str = "",
    links: tuple[str, ...] = (),
) -> Envelope:
    check_header(subject, f"report '{report}': the subject")
    sender_box = _mailboxes(report, "from", [sender])[0]
    reply_box = _mailboxes(report, "reply-to", [reply_to] if reply_to else [])
    boxes = _recipient_boxes(report, groups)
    if list_unsubscribe:
        check_header(list_unsubscribe, "delivery.list_unsubscribe")
    for att in attachments:
        check_header(att.filename, f"report '{report}': attachment name")
    to, cc, bcc = (tuple(display_value(b) for b in boxes[k]) for k in ("to", "cc", "bcc"))
    key = idempotency_key(report, to, cc, bcc, pdf_sha256 := pdf_sha256 or attachments[0].sha256)
    domain = sender_box.addr.partition("@")[2] or "reportc.invalid"
    message_id = f"<{key[:20]}.{run_id}@{domain}>"
    headers = {
        "From": header_value(sender_box),
        "To": ", ".join(header_value(b) for b in boxes["to"]),
        "Cc": ", ".join(header_value(b) for b in boxes["cc"]),
        "Reply-To": header_value(reply_box[0]) if reply_box else "",
        "Subject": subject,
        "Date": format_datetime(when),
        "Message-ID": message_id,
        "X-Reportc-Run": run_id,
        "X-Reportc-Report": report,
        "List-Unsubscribe": list_unsubscribe,
    }
    raw = _message(headers, text, html, attachments)
    _check_wire(report, raw, boxes)
    return Envelope(
        report=report,
        key=key,
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        message_id=message_id,
        raw=raw,
        pdf_sha256=pdf_sha256,
        attachments=tuple((a.filename, len(a.content)) for a in attachments),
        redirected_to=redirected_to,
        tags=dict(tags or {}),
        links=links,
    )


def _recipient_boxes(
    report: str, groups: tuple[tuple[str, Sequence[str]], ...]
) -> dict[str, list[Mailbox]]:
    """Each group's mailboxes, one copy per address (in the first group naming it)."""
    seen: set[str] = set()
    boxes: dict[str, list[Mailbox]] = {}
    for what, values in groups:
        boxes[what] = []
        for box in _mailboxes(report, what, values):
            if box.key not in seen:
                seen.add(box.key)
                boxes[what].append(box)
    if not seen:
        raise DeliveryError(
            Problem(
                f"report '{report}' has no recipients",
                hint="add personas.<name>.recipients.to in reports.yaml",
            )
        )
    return boxes


_OPTIONAL_HEADERS = frozenset({"To", "Cc", "Reply-To", "List-Unsubscribe"})


def _message(
    headers: Mapping[str, str], text: str, html: str, attachments: Sequence[Attachment]
) -> bytes:
    """The serialized MIME tree: headers (optional ones left out when empty), text +
    HTML, then the attachments.

    The email package writes a base64 body line by line; for a PDF that is most of the
    time spent composing. So each attachment goes in as a short placeholder, and its
    base64 (the very lines the email package would write: 57 bytes to a 76-character
    line, encoded once per distinct file) replaces the placeholder's line afterwards.
    """
    msg = _tree(headers, text, html)
    bodies: dict[bytes, bytes] = {}
    for i, att in enumerate(attachments):
        marker = f"reportc{i:03d}{att.sha256[:12]}".encode()  # 22 bytes: one base64 line
        bodies[base64.b64encode(marker)] = att.content
        msg.add_attachment(
            marker, maintype=att.maintype, subtype=att.subtype, filename=att.filename
        )
    boundaries = _set_boundaries(msg)
    raw = msg.as_bytes()
    if any(raw.count(b"--" + mark) != count for mark, count in boundaries):
        return _plain(headers, text, html, attachments)  # a part held a boundary line
    for line, content in bodies.items():
        if raw.count(b"\r\n" + line + b"\r\n") != 1:  # never guess: serialize plainly
            return _plain(headers, text, html, attachments)
        body = _base64_lines(content)
        raw = raw.replace(b"\r\n" + line + b"\r\n", b"\r\n" + body + b"\r\n" * bool(body))
    return raw


def _set_boundaries(msg: EmailMessage) -> list[tuple[bytes, int]]:
    """A random boundary for each multipart part, set before serializing: the email
    package would otherwise make one and compile a regular expression to search the
    whole text for it (twice a message). Each boundary and how often it must occur
    (once before each subpart and once at the end) is returned, for the caller to check
    the serialized message against — a part that happened to hold one is serialized
    plainly instead."""
    marks: list[tuple[bytes, int]] = []
    for part in msg.walk():
        if part.is_multipart():
            mark = f"{'=' * 15}{secrets.randbelow(10**19):019d}=="
            part.set_boundary(mark)
            marks.append((mark.encode(), len(part.get_payload()) + 1))
    return marks


def _tree(headers: Mapping[str, str], text: str, html: str) -> EmailMessage:
    """Headers (optional ones left out when empty), then text and HTML alternatives."""
    msg = EmailMessage(policy=MIME_POLICY)
    for name, value in headers.items():
        if value or name not in _OPTIONAL_HEADERS:
            msg[name] = value
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def _plain(
    headers: Mapping[str, str], text: str, html: str, attachments: Sequence[Attachment]
) -> bytes:
    """The same message serialized by the email package alone."""
    msg = _tree(headers, text, html)
    for att in attachments:
        msg.add_attachment(
            att.content, maintype=att.maintype, subtype=att.subtype, filename=att.filename
        )
    return msg.as_bytes()


@functools.lru_cache(maxsize=8)
def _base64_lines(content: bytes) -> bytes:
    """``content`` in base64 lines of 76 characters joined by CRLF (no final CRLF): the
    same bytes as the email package's generator. Memoized: one report's PDF sent in
    several messages is encoded once."""
    return base64.encodebytes(content).rstrip(b"\n").replace(b"\n", b"\r\n")


def _unfolded(value: str) -> str:
    """A header value as one line (RFC 5322 unfolding: CRLF before whitespace goes)."""
    return value.replace("\r\n", "").replace("\n", "")


def _check_wire(report: str, raw: bytes, boxes: Mapping[str, list[Mailbox]]) -> None:
    """Read the serialized message back: 7-bit, short lines, the very recipients we meant."""
    problems: list[str] = []
    if not raw.isascii():
        problems.append("it is not 7-bit clean")
    lines = raw.split(b"\r\n")
    if max(map(len, lines), default=0) > MAX_LINE:
        first = next(n for n, line in enumerate(lines, 1) if len(line) > MAX_LINE)
        problems.append(f"line {first} is over {MAX_LINE} bytes")
    # The recipients are in the top-level headers: read those, not the whole MIME tree.
    # (compat32: the raw header text, each value then read strictly by header_addresses)
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    if parsed.get_all("Bcc"):
        problems.append("it carries a Bcc header")
    for what, header in (("to", "To"), ("cc", "Cc")):
        values = parsed.get_all(header) or []
        named = [a.lower() for v in values for a in header_addresses(_unfolded(str(v)))]
        if len(values) > 1 or named != [b.key for b in boxes[what]]:
            problems.append(f"its {header} header names {len(named)} address(es), not the ")
            problems[-1] += f"{len(boxes[what])} it is sent to"
    if problems:
        raise DeliveryError(
            Problem(
                f"report '{report}': refusing to send a message whose headers would not match "
                "its recipients: " + "; ".join(problems)
            )
        )
