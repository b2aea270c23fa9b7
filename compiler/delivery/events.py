"""SES delivery events: bounces, complaints, deliveries, rejects and delays.

Events change what ``send`` does (a permanent bounce or a complaint suppresses
the address), so only the truth may change the ledger:

- ``reportc events ingest`` reads SNS notifications from a file or stdin (an
  object, a list, or one per line). Each must carry a valid SNS signature
  (:mod:`.sns`); bare SES records and unsigned notifications are refused unless
  the operator vouches for the file with ``--unsigned``.
- ``reportc events pull`` reads the usual SNS -> SQS subscription; trust comes
  from IAM (only SNS may write to the queue), and each message is deleted once
  recorded.

A record counts only for a message this ledger sent, by its real (non-empty)
message id, and only for that message's own recipients; everything else is
ignored and counted. Malformed input of any shape is counted or reported, never
a crash.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config.model import Project
from ..errors import DataError, DeliveryError, Location, Problem, byte_location
from .ledger import Ledger, open_ledger
from .sns import SignatureError, Verifier
from .transports import classify_ses_error, make_sqs_client

Clock = Callable[[], dt.datetime]

KINDS = ("Delivery", "Bounce", "Complaint", "Reject", "DeliveryDelay")


@dataclass(frozen=True)
class IngestSummary:
    events: int
    by_state: dict[str, int]
    suppressed: tuple[str, ...]
    unknown_messages: int
    ignored: int
    malformed: int = 0
    foreign: int = 0


@dataclass
class Parsed:
    """Records to ingest, and the notifications refused (with why)."""

    records: list[Any] = field(default_factory=list)
    refused: list[Problem] = field(default_factory=list)


def decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            Problem(
                "events must be UTF-8 JSON; this input is not text",
                byte_location(data, exc.start, source),
            )
        ) from None


def _loads(text: str, where: Location) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise DataError(Problem("JSON nested too deeply", where)) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise DataError(Problem(f"not usable JSON: {str(exc)[:120]}", where)) from None


def parse(data: bytes | str, source: str = "-", *, verifier: Verifier | None = None) -> Parsed:
    """Records from JSON (an object, a list) or JSON lines; SNS envelopes opened.

    With a ``verifier``, each SNS notification must be signed and bare records are
    refused; without one (``--unsigned``, or SQS), everything is taken as it is.
    """
    text = decode(data, source) if isinstance(data, bytes) else data
    if not text.strip():
        return Parsed()
    try:
        items = [_loads(text, Location(source))]
    except json.JSONDecodeError:
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(_loads(line, Location(source, n)))
                except json.JSONDecodeError as exc:
                    raise DataError(
                        Problem(f"not JSON: {exc.msg}", Location(source, n, exc.colno))
                    ) from None
    if len(items) == 1 and isinstance(items[0], list):
        items = items[0]
    out = Parsed()
    for n, item in enumerate(items, start=1):
        _open(item, n, source, verifier, out)
    return out


def _open(item: Any, n: int, source: str, verifier: Verifier | None, out: Parsed) -> None:
    where = Location(source)
    is_sns = isinstance(item, dict) and isinstance(item.get("Type"), str)
    if verifier is not None:
        if not is_sns:
            out.refused.append(
                Problem(
                    f"record {n}: not an SNS notification, so not signed",
                    where,
                    hint="feed SNS notifications, or vouch for this file with --unsigned",
                )
            )
            return
        try:
            verifier.verify(item)
        except SignatureError as exc:
            out.refused.append(Problem(f"record {n}: {exc}", where))
            return
    if is_sns:
        if item.get("Type") != "Notification":
            out.records.append({"reportc:ignored": item.get("Type")})
            return
        try:
            item = _loads(str(item.get("Message")), where)
        except (json.JSONDecodeError, DataError):
            out.records.append({"reportc:malformed": True})
            return
    out.records.append(item)


def ingest(ledger: Ledger, records: list[Any]) -> IngestSummary:
    states: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    suppressed: list[str] = []
    for record in records:
        verdict = _read(ledger, record)
        if isinstance(verdict, str):
            counts[verdict] += 1
            continue
        message_id, recipients, rows = verdict
        for recipient, state, detail, at, suppress in rows:
            if recipient.lower() not in recipients:
                counts["foreign"] += 1  # an address that message was never sent to
                continue
            ledger.delivery(message_id, recipient, state, detail, at)
            states[state] += 1
            if suppress:
                ledger.suppress(recipient, f"{state}: {detail}".strip(": "), at)
                suppressed.append(recipient.lower())
    return IngestSummary(
        len(records),
        dict(states),
        tuple(dict.fromkeys(suppressed)),
        counts["unknown"],
        counts["ignored"],
        counts["malformed"],
        counts["foreign"],
    )


def _read(
    ledger: Ledger, record: Any
) -> str | tuple[str, set[str], list[tuple[str, str, str, str, bool]]]:
    """The message, its recipients and the outcomes; or why the record is skipped."""
    if not isinstance(record, dict) or "reportc:malformed" in record:
        return "malformed"
    kind = record.get("eventType") or record.get("notificationType")
    if "reportc:ignored" in record or kind not in KINDS:
        return "ignored" if isinstance(kind, str) or "reportc:ignored" in record else "malformed"
    mail = record.get("mail")
    message_id = mail.get("messageId") if isinstance(mail, dict) else None
    if not isinstance(message_id, str) or not message_id.strip():
        return "malformed"
    row = ledger.by_message_id(message_id)
    if row is None:
        return "unknown"
    try:
        rows = list(_outcomes(str(kind), record))
    except (AttributeError, TypeError):
        return "malformed"
    recipients = set(row.recipients)
    return message_id, recipients, rows


def _addresses(items: Any, key: str | None) -> Iterator[str]:
    """Addresses from a list of strings, or of objects with ``key``; nothing else."""
    if not isinstance(items, list):
        raise TypeError("not a list")
    for item in items:
        value = item.get(key) if key and isinstance(item, dict) else item
        if not isinstance(value, str):
            raise TypeError("not an address")
        yield value


def _info(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = record.get(key, {})
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _outcomes(kind: str, record: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str, bool]]:
    """(recipient, state, detail, time, suppress?) for each recipient the event concerns."""
    if kind == "Delivery":
        info = _info(record, "delivery")
        at = str(info.get("timestamp", ""))
        for r in _addresses(info.get("recipients", []), None):
            yield r, "delivered", str(info.get("smtpResponse", "")), at, False
    elif kind == "Bounce":
        info = _info(record, "bounce")
        permanent = info.get("bounceType") == "Permanent"
        detail = f"{info.get('bounceType')}/{info.get('bounceSubType')}"
        codes = {
            r.get("emailAddress"): r.get("diagnosticCode")
            for r in info.get("bouncedRecipients", [])
            if isinstance(r, dict)
        }
        for r in _addresses(info.get("bouncedRecipients", []), "emailAddress"):
            extra = f" {codes[r]}" if isinstance(codes.get(r), str) else ""
            yield r, "bounced", detail + extra, str(info.get("timestamp", "")), permanent
    elif kind == "Complaint":
        info = _info(record, "complaint")
        for r in _addresses(info.get("complainedRecipients", []), "emailAddress"):
            yield (
                r,
                "complained",
                str(info.get("complaintFeedbackType", "")),
                str(info.get("timestamp", "")),
                True,
            )
    elif kind == "Reject":
        mail = _info(record, "mail")
        reason = str(_info(record, "reject").get("reason", ""))
        for r in _addresses(mail.get("destination", []), None):
            yield r, "rejected", reason, str(mail.get("timestamp", "")), False
    else:
        info = _info(record, "deliveryDelay")
        for r in _addresses(info.get("delayedRecipients", []), "emailAddress"):
            yield (
                r,
                "delayed",
                str(info.get("delayType", "")),
                str(info.get("timestamp", "")),
                False,
            )


@dataclass(frozen=True)
class PullSummary:
    received: int
    deleted: int
    kept: int
    summary: IngestSummary


def pull(
    ledger: Ledger, sqs: Any, queue_url: str, *, wait: int = 1, limit: int = 1000
) -> PullSummary:
    """Read SES notifications from an SQS queue, record them, delete what was recorded.

    A message whose body is not JSON stays in the queue (SQS's redrive policy moves it
    to a dead-letter queue); everything recorded or deliberately ignored is deleted.
    """
    received = deleted = kept = 0
    summaries: list[IngestSummary] = []
    while received < limit:
        resp = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - received),
            WaitTimeSeconds=wait,
            VisibilityTimeout=60,
        )
        batch = resp.get("Messages") or []
        if not batch:
            break
        received += len(batch)
        done: list[dict[str, str]] = []
        records: list[Any] = []
        for message in batch:
            try:
                parsed = parse(str(message.get("Body", "")), f"sqs:{message.get('MessageId')}")
            except DataError:
                kept += 1
                continue
            records.extend(parsed.records)
            done.append({"Id": str(len(done)), "ReceiptHandle": message["ReceiptHandle"]})
        summaries.append(ingest(ledger, records))  # recorded before anything is deleted
        if done:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
            deleted += len(done)
    return PullSummary(received, deleted, kept, merge(summaries))


def merge(summaries: list[IngestSummary]) -> IngestSummary:
    states: Counter[str] = Counter()
    for s in summaries:
        states.update(s.by_state)
    return IngestSummary(
        sum(s.events for s in summaries),
        dict(states),
        tuple(dict.fromkeys(a for s in summaries for a in s.suppressed)),
        sum(s.unknown_messages for s in summaries),
        sum(s.ignored for s in summaries),
        sum(s.malformed for s in summaries),
        sum(s.foreign for s in summaries),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ingest_events(
    project: Project,
    data: bytes | str,
    source: str = "-",
    *,
    verifier: Verifier | None = None,
    clock: Clock = _now,
) -> tuple[IngestSummary, tuple[Problem, ...]]:
    """Record the SES events of SNS notifications (``reportc events ingest``): the
    summary, and the notifications refused (bad signature, not JSON, ...)."""
    parsed = parse(data, source, verifier=verifier)
    ledger = open_ledger(project, clock)
    try:
        return ingest(ledger, parsed.records), tuple(parsed.refused)
    finally:
        ledger.close()


def pull_events(
    project: Project,
    queue_url: str,
    *,
    wait: int = 1,
    limit: int = 1000,
    sqs: Any = None,
    clock: Clock = _now,
) -> PullSummary:
    """Record the SES events waiting in an SQS queue (``reportc events pull``); the
    client defaults to one for the project's region and credentials."""
    if sqs is None:
        sqs = make_sqs_client(project.delivery.region, project.env)
    ledger = open_ledger(project, clock)
    try:
        return pull(ledger, sqs, queue_url, wait=wait, limit=limit)
    except DataError:
        raise
    except Exception as exc:
        raise DeliveryError(
            Problem(
                f"cannot read the queue: {classify_ses_error(exc).message}", Location(queue_url)
            )
        ) from None
    finally:
        ledger.close()
