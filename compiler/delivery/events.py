"""SES delivery events: bounces, complaints, deliveries, rejects and delays.

``reportc events ingest`` reads SES event records — as published to SNS (the
notification envelope with a JSON ``Message``), or the bare records; one, a list,
or one per line — and records, per SES MessageId and recipient, what happened.
Permanent bounces and complaints put the address on a suppression list that
``send`` honours (``--include-suppressed`` overrides).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import DataError, Location, Problem
from .ledger import Ledger


@dataclass(frozen=True)
class IngestSummary:
    events: int
    by_state: dict[str, int]
    suppressed: tuple[str, ...]
    unknown_messages: int
    ignored: int


def parse(text: str, source: str = "-") -> list[dict[str, Any]]:
    """Event records from JSON (an object, a list) or JSON lines; SNS envelopes opened."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(
                        Problem(f"not JSON: {exc.msg}", Location(source, n, exc.colno))
                    ) from None
    return list(_records(items, source))


def _records(items: list[Any], source: str) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict) and item.get("Type") == "Notification" and "Message" in item:
            try:
                item = json.loads(item["Message"])
            except (TypeError, json.JSONDecodeError):
                raise DataError(
                    Problem("an SNS notification whose Message is not JSON", Location(source))
                ) from None
        if isinstance(item, dict) and ("eventType" in item or "notificationType" in item):
            yield item


def ingest(ledger: Ledger, records: list[dict[str, Any]]) -> IngestSummary:
    states: Counter[str] = Counter()
    suppressed: list[str] = []
    unknown = ignored = 0
    for record in records:
        kind = record.get("eventType") or record.get("notificationType")
        mail = record.get("mail", {})
        message_id = str(mail.get("messageId", ""))
        rows = list(_outcomes(kind, record))
        if not rows:
            ignored += 1
            continue
        if not ledger.known_message(message_id):
            unknown += 1
            continue
        for recipient, state, detail, at, suppress in rows:
            ledger.delivery(message_id, recipient, state, detail, at)
            states[state] += 1
            if suppress:
                ledger.suppress(recipient, f"{state}: {detail}".strip(": "), at)
                suppressed.append(recipient.lower())
    return IngestSummary(
        len(records), dict(states), tuple(dict.fromkeys(suppressed)), unknown, ignored
    )


def _outcomes(
    kind: str | None, record: dict[str, Any]
) -> Iterator[tuple[str, str, str, str, bool]]:
    """(recipient, state, detail, time, suppress?) for each recipient the event concerns."""
    mail = record.get("mail", {})
    if kind == "Delivery":
        info = record.get("delivery", {})
        for r in info.get("recipients", []):
            yield r, "delivered", info.get("smtpResponse", ""), info.get("timestamp", ""), False
    elif kind == "Bounce":
        info = record.get("bounce", {})
        permanent = info.get("bounceType") == "Permanent"
        for r in info.get("bouncedRecipients", []):
            detail = f"{info.get('bounceType')}/{info.get('bounceSubType')}"
            if r.get("diagnosticCode"):
                detail += f" {r['diagnosticCode']}"
            yield (
                r.get("emailAddress", ""),
                "bounced",
                detail,
                info.get("timestamp", ""),
                permanent,
            )
    elif kind == "Complaint":
        info = record.get("complaint", {})
        for r in info.get("complainedRecipients", []):
            yield (
                r.get("emailAddress", ""),
                "complained",
                info.get("complaintFeedbackType", ""),
                info.get("timestamp", ""),
                True,
            )
    elif kind == "Reject":
        reason = record.get("reject", {}).get("reason", "")
        for r in mail.get("destination", []):
            yield r, "rejected", reason, mail.get("timestamp", ""), False
    elif kind == "DeliveryDelay":
        info = record.get("deliveryDelay", {})
        for r in info.get("delayedRecipients", []):
            yield (
                r.get("emailAddress", ""),
                "delayed",
                info.get("delayType", ""),
                info.get("timestamp", ""),
                False,
            )
