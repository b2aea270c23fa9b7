"""SES event notifications: delivery tracking and the suppression list."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reportc import load_project
from reportc.cli import main
from reportc.delivery import Ledger, OutboxTransport
from reportc.dispatch import send
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject, MotoServer


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


@pytest.mark.slow
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
    result = runner.invoke(main, ["-C", str(root), "events", "ingest", "--unsigned", str(source)])
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
    result = CliRunner().invoke(
        main, ["-C", str(root), "events", "ingest", "--unsigned", "-"], input=lines
    )
    assert result.exit_code == 0, result.output
    assert "ingested 2 events: 1 bounced, 1 delivered" in result.output
    assert "suppressed" not in result.output  # a transient bounce is not suppressed
    bad = CliRunner().invoke(
        main,
        ["-C", str(root), "events", "ingest", "--unsigned", "-"],
        input='{"eventType": "Bounce"\nnot json\n',
    )
    assert bad.exit_code == 4
    assert "error: <stdin>:1:23: not JSON: Expecting ',' delimiter" in bad.output


# --------------------------------------------------------------------------- only the truth


def _cert() -> tuple[Any, bytes]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1))
        .not_valid_after(dt.datetime(2027, 1, 1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"


def signed(record: dict[str, Any], key: Any, url: str = CERT_URL) -> dict[str, Any]:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from reportc.delivery.sns import canonical

    message = {**sns(record), "SignatureVersion": "2", "SigningCertURL": url}
    signature = key.sign(canonical(message), padding.PKCS1v15(), hashes.SHA256())
    return {**message, "Signature": base64.b64encode(signature).decode()}


def _sent(root: Path, tmp_path: Path) -> dict[str, str]:
    first = send(
        load_project(root, environ={}),
        transport=OutboxTransport(tmp_path / "box"),
        clock=lambda: FIXED_NOW,
        sleep=lambda s: None,
    )
    return {m.report: m.message_id for m in first.messages}


def _ingest(root: Path, tmp_path: Path, events: Any, *args: str) -> Any:
    source = tmp_path / "events.json"
    source.write_text(json.dumps(events))
    return CliRunner().invoke(main, ["-C", str(root), "events", "ingest", *args, str(source)])


def test_signed_notifications_are_believed_and_forged_ones_refused(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    ids = _sent(root, tmp_path)
    key, pem = _cert()
    (tmp_path / "sns.pem").write_bytes(pem)
    good = signed(bounce(ids["cfo"], "cfo@example.com"), key)
    tampered = {**signed(bounce(ids["ceo"], "ceo@example.com"), key)}
    tampered["Message"] = tampered["Message"].replace("ceo@example.com", "cmo@example.com")
    wrong_host = signed(bounce(ids["cmo"], "cmo@example.com"), key, "https://evil.example/x.pem")
    bare = bounce(ids["ceo"], "ceo@example.com")
    result = _ingest(
        root,
        tmp_path,
        [good, tampered, wrong_host, bare],
        "--signing-cert",
        str(tmp_path / "sns.pem"),
    )
    assert result.exit_code == 4, result.output
    assert "ingested 1 event: 1 bounced" in result.output
    assert "suppressed from now on: c***@example.com" in result.output
    assert "record 2: the signature does not match the message" in result.output
    assert (
        "record 3: SigningCertURL 'https://evil.example/x.pem' is not an https URL on an SNS host"
        in result.output
    )
    assert "record 4: not an SNS notification, so not signed" in result.output
    assert "3 notifications refused" in result.output
    with closing(Ledger(root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)) as ledger:
        assert set(ledger.suppressed()) == {"cfo@example.com"}
    # Unsigned input is refused as a whole without --unsigned.
    unsigned = _ingest(root, tmp_path, [sns(bounce(ids["ceo"], "ceo@example.com"))])
    assert unsigned.exit_code == 4
    assert "record 1: unsupported SignatureVersion 'None'" in unsigned.output


def test_events_change_only_their_own_message_and_recipients(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    ids = _sent(root, tmp_path)
    # A message left without an id (failed before the provider answered).
    with closing(Ledger(root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)) as ledger:
        ledger.db.execute(
            "UPDATE messages SET message_id = '', state = 'failed' WHERE report='cmo'"
        )
    no_id = bounce("", "cmo@example.com")
    foreign = bounce(ids["ceo"], "someone-else@example.net")  # not a recipient of that message
    shapes: list[Any] = [
        {"eventType": "Bounce", "mail": "not an object"},
        {
            "eventType": "Bounce",
            "mail": {"messageId": ids["cfo"]},
            "bounce": {"bounceType": "Permanent", "bouncedRecipients": "cfo@example.com"},
        },
        {
            "eventType": "Delivery",
            "mail": {"messageId": ids["cfo"]},
            "delivery": {"recipients": [1, 2]},
        },
        {"eventType": "Complaint", "mail": {"messageId": 7}},
        ["nested", ["list"]],
        17,
    ]
    result = _ingest(root, tmp_path, [no_id, foreign, *shapes], "--unsigned")
    assert result.exit_code == 0, result.output
    assert "ingested 8 events: nothing" in result.output
    assert "note: 7 events malformed (no message id, or fields of the wrong type; ignored)" in (
        result.output
    )
    assert "note: 1 recipient named by events but not by their message (ignored)" in result.output
    with closing(Ledger(root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)) as ledger:
        assert ledger.suppressed() == {}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"\xff\xfe\x00binary",
            "error: <stdin>:1:1: events must be UTF-8 JSON; this input is not text",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "error: <stdin>: JSON nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}", "error: <stdin>: not usable JSON: Exceeds the limit"),
    ],
)
def test_hostile_event_input_is_a_clear_error(
    make_project: MakeProject, data: bytes, expected: str
) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    result = CliRunner().invoke(
        main, ["-C", str(root), "events", "ingest", "--unsigned", "-"], input=data
    )
    assert result.exit_code == 4, result.output
    assert result.output.startswith(expected)
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_events_pull_reads_sqs_and_deletes_what_it_recorded(
    make_project: MakeProject, tmp_path: Path, moto: MotoServer
) -> None:
    import boto3

    root = make_project({"reports.yaml": SEND_YAML, "repos.env": ""})
    ids = _sent(root, tmp_path)
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
    bodies = [
        sns(bounce(ids["cfo"], "cfo@example.com")),
        sns(delivery(ids["ceo"], ["ceo@example.com"])),
        *[sns(delivery(ids["cmo"], ["cmo@example.com"])) for _ in range(11)],
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    env = {**moto.env()}
    result = CliRunner(env=env).invoke(
        main, ["-C", str(root), "events", "pull", "--queue-url", url, "--wait", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "received 14 queue messages, deleted 13, 1 left in the queue (not JSON)" in result.output
    assert "ingested 13 events: 1 bounced, 12 delivered" in result.output
    with closing(Ledger(root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)) as ledger:
        assert set(ledger.suppressed()) == {"cfo@example.com"}
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        int(attrs["ApproximateNumberOfMessages"])
        + int(attrs["ApproximateNumberOfMessagesNotVisible"])
        == 1
    )
