"""SES event notifications: delivery tracking and the suppression list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reportc import load_project
from reportc.cli import main
from reportc.delivery import OutboxTransport
from reportc.dispatch import send
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject


def _mail(message_id: str, destination: list[str]) -> dict[str, Any]:
    # The shape of SES's documented example records ("Examples of event data that
    # Amazon SES publishes to Amazon SNS").
    return {
        "timestamp": "2026-11-30T12:00:00.000Z",
        "source": "Sender Name <reports@example.com>",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": destination,
        "headersTruncated": False,
    }


def bounce(message_id: str, address: str, kind: str = "Permanent") -> dict[str, Any]:
    return {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-30T12:01:02.669Z",
            "feedbackId": "0100feedback",
            "reportingMTA": "dsn; mta.example.com",
        },
        "mail": _mail(message_id, [address]),
    }


def complaint(message_id: str, address: str) -> dict[str, Any]:
    return {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": "2026-11-30T12:05:00.000Z",
            "feedbackId": "0100c",
            "complaintFeedbackType": "abuse",
        },
        "mail": _mail(message_id, [address]),
    }


def delivery(message_id: str, addresses: list[str]) -> dict[str, Any]:
    return {
        "eventType": "Delivery",
        "delivery": {
            "timestamp": "2026-11-30T12:00:01.000Z",
            "processingTimeMillis": 546,
            "recipients": addresses,
            "smtpResponse": "250 ok",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
        "mail": _mail(message_id, addresses),
    }


def sns(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "sns-1",
        "TopicArn": "arn:aws:sns:x",
        "Message": json.dumps(record),
        "Timestamp": "2026-11-30T12:06:00.000Z",
    }


def test_ingest_tracks_deliveries_and_suppresses_bounces(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    box = OutboxTransport(tmp_path / "box")
    first = send(
        load_project(root, environ={}), transport=box, clock=lambda: FIXED_NOW, sleep=lambda s: None
    )
    ids = {m.report: m.message_id for m in first.messages}
    events = [
        sns(delivery(ids["ceo"], ["ceo@example.com", "audit@example.org"])),
        sns(bounce(ids["cfo"], "cfo@example.com")),
        sns(complaint(ids["cmo"], "cmo@example.com")),
        sns({"eventType": "Open", "mail": _mail(ids["ceo"], []), "open": {}}),
        sns(delivery("not-ours", ["x@example.com"])),
    ]
    source = tmp_path / "events.json"
    source.write_text(json.dumps(events))
    runner = CliRunner()
    result = runner.invoke(main, ["-C", str(root), "events", "ingest", str(source)])
    assert result.exit_code == 0, result.output
    assert "ingested 5 events: 1 bounced, 1 complained, 2 delivered" in result.output
    assert "suppressed from now on: c***@example.com, c***@example.com" in result.output
    assert "1 event for messages this ledger did not send (ignored)" in result.output
    status = runner.invoke(main, ["-C", str(root), "status", "--show-addresses"])
    lines = status.output.splitlines()
    assert any(
        ln.startswith("ceo          ceo@example.com") and ln.endswith("— delivered (250 ok)")
        for ln in lines
    )
    assert any(
        "cfo@example.com" in ln and "bounced (Permanent/General smtp; 550 5.1.1 user unknown)" in ln
        for ln in lines
    )
    # The next send leaves the suppressed addresses out.
    (root / "data/sales.csv").write_text("region,amount\nNorth,99\n")  # new PDFs, new messages
    second = send(
        load_project(root, environ={}), transport=box, clock=lambda: FIXED_NOW, sleep=lambda s: None
    )
    by_report = {m.report: m for m in second.messages}
    assert by_report["cfo"].state == "sent" and by_report["cfo"].to == ()
    assert by_report["cfo"].cc == ("ceo@example.com",)
    assert by_report["cmo"].state == "skipped"
    assert by_report["cmo"].detail.startswith("every recipient is suppressed")
    # ... unless asked to include them.
    third = send(
        load_project(root, environ={}),
        transport=box,
        clock=lambda: FIXED_NOW,
        sleep=lambda s: None,
        include_suppressed=True,
        resend=True,
        reports=["cmo"],
    )
    assert third.messages[0].to == ("Zoë Müller <cmo@example.com>",)


def test_ingest_from_stdin_and_json_lines(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    first = send(
        load_project(root, environ={}),
        transport=OutboxTransport(tmp_path / "b"),
        clock=lambda: FIXED_NOW,
        sleep=lambda s: None,
        reports=["cfo"],
    )
    mid = first.messages[0].message_id
    lines = "\n".join(
        json.dumps(e)
        for e in (bounce(mid, "board@example.org", "Transient"), delivery(mid, ["cfo@example.com"]))
    )
    result = CliRunner().invoke(main, ["-C", str(root), "events", "ingest", "-"], input=lines)
    assert result.exit_code == 0, result.output
    assert "ingested 2 events: 1 bounced, 1 delivered" in result.output
    assert "suppressed" not in result.output  # a transient bounce is not suppressed
    bad = CliRunner().invoke(
        main, ["-C", str(root), "events", "ingest", "-"], input='{"eventType": "Bounce"\nnot json\n'
    )
    assert bad.exit_code == 4
    assert "error: <stdin>:1:23: not JSON: Expecting ',' delimiter" in bad.output
