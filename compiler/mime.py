"""Package stage: one 7-bit-safe MIME message (:class:`Envelope`) per report.

Structure: ``multipart/mixed`` -> (``multipart/alternative`` -> text/plain +
text/html) + the report PDF (+ optional CSV attachments). The BCC recipients
(the project's audit copy and any per-report BCC) live only in the envelope:
the serialized message never carries a ``Bcc:`` header. Every value that
reaches a header is checked for CR/LF first, so a hostile value is an error
before anything is sent, never an injected header.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from .addresses import address_problem, bare_address
from .errors import DeliveryError, Problem

#: 7-bit safe on the wire, CRLF line ends, headers folded at 78 characters.
MIME_POLICY = policy.SMTP.clone(cte_type="7bit")
MAX_LINE = 998


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"

    @property
    def sha256(self) -> str:
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

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (to, cc, bcc), bare addresses, de-duplicated."""
        seen: list[str] = []
        for addr in (*self.to, *self.cc, *self.bcc):
            bare = bare_address(addr).lower()
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
        "to=" + ",".join(sorted(bare_address(a).lower() for a in to)),
        "cc=" + ",".join(sorted(bare_address(a).lower() for a in cc)),
        "bcc=" + ",".join(sorted(bare_address(a).lower() for a in bcc)),
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
) -> Envelope:
    """Build and serialize the message; raises :class:`DeliveryError` on bad values."""
    check_header(subject, f"report '{report}': the subject")
    for what, values in (
        ("from", [sender]),
        ("to", to),
        ("cc", cc),
        ("bcc", bcc),
        ("reply-to", [reply_to] if reply_to else []),
    ):
        for addr in values:
            problem = address_problem(addr)
            if problem:
                raise DeliveryError(Problem(f"report '{report}': {what} address: {problem}"))
    if not to and not cc and not bcc:
        raise DeliveryError(
            Problem(
                f"report '{report}' has no recipients",
                hint="add personas.<name>.recipients.to in reports.yaml",
            )
        )
    if list_unsubscribe:
        check_header(list_unsubscribe, "delivery.list_unsubscribe")
    pdf = attachments[0]
    key = idempotency_key(report, to, cc, bcc, pdf.sha256)
    domain = bare_address(sender).partition("@")[2] or "reportc.invalid"
    message_id = f"<{key[:20]}.{run_id}@{domain}>"

    msg = EmailMessage(policy=MIME_POLICY)
    msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    msg["X-Reportc-Run"] = run_id
    msg["X-Reportc-Report"] = report
    if list_unsubscribe:
        msg["List-Unsubscribe"] = list_unsubscribe
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for att in attachments:
        msg.add_attachment(
            att.content, maintype=att.maintype, subtype=att.subtype, filename=att.filename
        )
    raw = msg.as_bytes()
    too_long = [n for n, line in enumerate(raw.split(b"\r\n"), 1) if len(line) > MAX_LINE]
    if too_long:  # pragma: no cover - the policy folds and encodes every part
        raise DeliveryError(Problem(f"report '{report}': line {too_long[0]} is over 998 bytes"))
    return Envelope(
        report=report,
        key=key,
        sender=sender,
        to=tuple(to),
        cc=tuple(cc),
        bcc=tuple(bcc),
        subject=subject,
        message_id=message_id,
        raw=raw,
        pdf_sha256=pdf.sha256,
        attachments=tuple((a.filename, len(a.content)) for a in attachments),
        redirected_to=redirected_to,
        tags=dict(tags or {}),
    )
