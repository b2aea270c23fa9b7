"""Exactly once, and to the right person: each promise attacked with real servers.

SES is moto's server over HTTP, SMTP is aiosmtpd on loopback, and a loopback
TCP proxy (:mod:`tests.faults`) drops connections at the worst moment.
"""

from __future__ import annotations

import base64
import email
import json
import time
from contextlib import closing
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reportc import load_project
from reportc.addresses import bare_address
from reportc.cli import main
from reportc.delivery import Ledger, OutboxTransport, SesTransport, SmtpTransport
from reportc.delivery.transports import make_ses_clients
from reportc.dispatch import send
from reportc.errors import DeliveryError
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject, MotoServer, SmtpSink
from tests.faults import FaultProxy
from tests.functional.test_scale import burst_project


def parse(raw: bytes | str) -> EmailMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def run_send(project: Any, transport: Any, **kwargs: Any) -> Any:
    return send(
        project, transport=transport, clock=lambda: FIXED_NOW, sleep=lambda s: None, **kwargs
    )


def ledger_of(root: Path) -> Ledger:
    return Ledger(root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)


def header_addrs(msg: EmailMessage, name: str) -> list[str]:
    header = msg[name]
    return [] if header is None else [a.addr_spec.lower() for a in header.addresses]


# --------------------------------------------------------------------------- item 1


@pytest.mark.slow
def test_ses_connection_dropped_after_accept_is_uncertain_and_never_resent(
    make_project: MakeProject, moto: MotoServer
) -> None:
    """botocore must not retry SendEmail: the server accepted it once, the ledger says so."""
    root = make_project({"reports.yaml": SEND_YAML})
    project = load_project(root, environ=moto.env())
    moto.verify("example.com")
    port = int(moto.url.rsplit(":", 1)[1])
    with FaultProxy(port, b"/v2/email/outbound-emails", times=1) as proxy:
        v2, v1 = make_ses_clients("us-east-1", proxy.url, moto.env())
        result = run_send(project, SesTransport(v2, v1), reports=["cfo"])
    assert [m.state for m in result.messages] == ["uncertain"]
    assert proxy.cut == 1
    assert len(moto.raw_messages()) == 1  # received exactly once
    with closing(ledger_of(root)) as ledger:
        (row,) = ledger.rows("cfo")
        assert row.state == "sending" and row.uncertain and row.attempts == 1
    # The next run does not send it again, and says why.
    again = run_send(load_project(root, environ=moto.env()), _ses(moto), reports=["cfo"])
    assert [m.state for m in again.messages] == ["uncertain"]
    assert "it may have been delivered" in again.messages[0].detail
    assert len(moto.raw_messages()) == 1
    # After checking, the operator sends it again on purpose.
    third = run_send(
        load_project(root, environ=moto.env()), _ses(moto), reports=["cfo"], resend_uncertain=True
    )
    assert [m.state for m in third.messages] == ["sent"]
    assert len(moto.raw_messages()) == 2


def _ses(moto: MotoServer) -> SesTransport:
    v2, v1 = make_ses_clients("us-east-1", moto.url, moto.env())
    return SesTransport(v2, v1)


# --------------------------------------------------------------------------- item 2


def _suppress(root: Path, address: str) -> None:
    with closing(ledger_of(root)) as ledger:
        ledger.suppress(address, "bounced: Permanent/General", "2026-11-30T12:00:00+00:00")


@pytest.mark.slow
def test_suppressing_a_cc_resends_nothing_and_a_new_recipient_gets_only_theirs(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    box = OutboxTransport(tmp_path / "box")
    first = run_send(load_project(root, environ={}), box)
    assert [m.state for m in first.messages] == ["sent"] * 3
    # cfo's Cc bounced and is suppressed: nobody gets the unchanged PDF again.
    _suppress(root, "ceo@example.com")
    again = run_send(load_project(root, environ={}), box)
    assert [(m.report, m.state) for m in again.messages] == [
        ("ceo", "skipped"),
        ("cfo", "skipped"),
        ("cmo", "skipped"),
    ]
    assert len(list(box.folder.glob("*.eml"))) == 3
    # A recipient added to cfo's report gets it; nobody else does.
    text = SEND_YAML.replace("cc: [ceo@example.com]", "cc: [ceo@example.com, new@example.com]")
    (root / "reports.yaml").write_text(text, encoding="utf-8")
    third = run_send(load_project(root, environ={}), box)
    sent = [m for m in third.messages if m.state == "sent"]
    assert [(m.report, m.to, m.cc, m.bcc_count) for m in sent] == [
        ("cfo", (), ("new@example.com",), 0)
    ]
    (new,) = [p for p in box.folder.glob("*.eml") if "new@" in p.read_text()]
    msg = parse(new.read_bytes())
    assert header_addrs(msg, "Cc") == ["new@example.com"] and msg["To"] is None
    # Removing a recipient sends nothing.
    (root / "reports.yaml").write_text(SEND_YAML.replace("      cc: [ceo@example.com]\n", ""))
    fourth = run_send(load_project(root, environ={}), box)
    assert {m.state for m in fourth.messages} == {"skipped"}
    assert len(list(box.folder.glob("*.eml"))) == 4


def test_a_suppressed_audit_copy_stops_the_run_unless_overridden(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    box = OutboxTransport(tmp_path / "box")
    _suppress(root, "audit@example.org")
    with pytest.raises(DeliveryError) as info:
        run_send(load_project(root, environ={}), box)
    assert [p.message for p in info.value.problems] == [
        "the audit copy address a***@example.org is suppressed (bounced: Permanent/General); "
        "every report would go without it",
        "nothing was sent",
    ]
    assert not box.folder.exists()
    result = run_send(load_project(root, environ={}), box, allow_suppressed_audit=True)
    assert [m.state for m in result.messages] == ["sent"] * 3
    with closing(ledger_of(root)) as ledger:
        rows = ledger.rows()
    assert all(
        "audit copy suppressed, sent without it: a***@example.org" in r.override for r in rows
    )
    assert all("audit@example.org" not in r.bcc for r in rows)


# --------------------------------------------------------------------------- item 3 and 4

HOSTILE_STORES = (
    "store_id,store,manager,manager_email,city\n"
    "S1,Harbor,Hana,h@example.com,Alpha\n"
    'S2,Midway,"Eve <eve@evil.example>, Bob",bob@example.com,Bravo\n'
    "S3,Uptown,.Uma,u@example.com,Charlie\n"
    "S4,Seaside,Sam\u2028Bcc: x@evil.example,s@example.com,Delta\n"
    'S5,Old Town,"O\'Neil, Olga",o@example.com,Echo\n'
)


def _hostile(make_project: MakeProject) -> Path:
    from tests.functional.test_scale import BURST_YAML

    text = BURST_YAML.replace(
        'to: "{{ row.manager_email }}"', 'to: "{{ row.manager }} <{{ row.manager_email }}>"'
    )
    return burst_project(make_project, text, HOSTILE_STORES)


def _check_invariant(raw: bytes, envelope_rcpts: list[str], ledger_rcpts: list[str]) -> None:
    msg = parse(raw)
    assert msg["Bcc"] is None
    shown = header_addrs(msg, "To") + header_addrs(msg, "Cc")
    # the header recipients, the envelope and the ledger name the same people (+ audit BCC)
    assert sorted({*shown, "audit@example.org"}) == sorted(a.lower() for a in envelope_rcpts)
    assert sorted(envelope_rcpts) == sorted(ledger_rcpts)


def test_display_name_injection_fails_that_row_alone_over_outbox(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = _hostile(make_project)
    box = OutboxTransport(tmp_path / "box")
    result = run_send(load_project(root, environ={}), box)
    states = {m.report: m.state for m in result.messages}
    assert states == {
        "store-S1": "sent",
        "store-S2": "failed",
        "store-S3": "sent",
        "store-S4": "failed",
        "store-S5": "failed",
    }
    detail = {m.report: m.detail for m in result.messages}
    assert (
        "(row 'S2'): to address: 'Eve <eve@evil.example>, Bob <bob@example.com>' gives 2 "
        in (detail["store-S2"])
    )
    assert "(row 'S4'): to address: line breaks are not allowed" in detail["store-S4"]
    # an unquoted comma is two addresses to every mail program: the row fails, saying so
    assert (
        "'O'Neil, Olga <o@example.com>' gives more than one address: the display name "
        in (detail["store-S5"])
    )
    with closing(ledger_of(root)) as ledger:
        rows = {r.report: r for r in ledger.rows()}
    assert set(rows) == {"store-S1", "store-S3"}
    for name, row in rows.items():
        raw = (tmp_path / "box" / f"{name}-{row.key[:12]}.eml").read_bytes()
        ledger_rcpts = [bare_address(a).lower() for a in (*row.to, *row.cc, *row.bcc)]
        _check_invariant(raw, ledger_rcpts, ledger_rcpts)
    uma = parse((tmp_path / "box" / f"store-S3-{rows['store-S3'].key[:12]}.eml").read_bytes())
    assert str(uma["To"]) == '".Uma" <u@example.com>'


def test_headers_envelope_and_ledger_agree_over_smtp(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    root = _hostile(make_project)
    result = run_send(load_project(root, environ={}), SmtpTransport("127.0.0.1", port, "none"))
    assert [m.state for m in result.messages].count("sent") == 2
    with closing(ledger_of(root)) as ledger:
        rows = {r.message_id: r for r in ledger.rows()}
    assert len(sink.messages) == 2
    for _sender, rcpts, raw in sink.messages:
        row = rows[parse(raw)["Message-ID"]]
        _check_invariant(raw, rcpts, [bare_address(a) for a in (*row.to, *row.cc, *row.bcc)])


@pytest.mark.slow
def test_headers_envelope_and_ledger_agree_over_ses(
    make_project: MakeProject, moto: MotoServer
) -> None:
    root = _hostile(make_project)
    moto.verify("example.com")
    transport = _ses(moto)
    calls: dict[str, list[str]] = {}  # the Destination each SendEmail call carried

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        request = json.loads(params["body"])
        raw = base64.b64decode(request["Content"]["Raw"]["Data"])
        dest = request["Destination"]
        calls[parse(raw)["Message-ID"]] = [
            *dest.get("ToAddresses", []),
            *dest.get("CcAddresses", []),
            *dest.get("BccAddresses", []),
        ]

    transport.client.meta.events.register("before-call.sesv2.SendEmail", record)
    result = run_send(load_project(root, environ=moto.env()), transport)
    assert [m.state for m in result.messages].count("sent") == 2
    with closing(ledger_of(root)) as ledger:
        rows = {r.report: r for r in ledger.rows()}
    raws = moto.raw_messages()
    assert len(raws) == 2 == len(calls)
    for record_ in raws:
        msg = parse(record_["raw_data"])
        row = rows[msg["X-Reportc-Report"]]
        destination = [bare_address(a) for a in calls[msg["Message-ID"]]]
        ledger_rcpts = [bare_address(a) for a in (*row.to, *row.cc, *row.bcc)]
        _check_invariant(record_["raw_data"].encode(), destination, ledger_rcpts)


# --------------------------------------------------------------------------- item 5


def test_dry_run_with_a_report_that_failed_to_build(make_project: MakeProject) -> None:
    text = SEND_YAML.replace("sections: [summary]\n", "sections: [summary, broken]\n").replace(
        "sections:\n  summary:",
        "sections:\n  broken:\n    type: table\n    query: SELECT nope FROM sales\n  summary:",
    )
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(main, ["-C", str(root), "send", "--dry-run"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "DRY RUN: nothing was sent; 2 messages written to" in result.output
    assert "failed     cfo: not built: " in result.output
    assert len(list((root / "dist/outbox").glob("*.eml"))) == 2


# --------------------------------------------------------------------------- item 6


@pytest.mark.slow
def test_smtp_server_closing_idle_connections_loses_nothing(make_project: MakeProject) -> None:
    import socket

    from aiosmtpd.controller import Controller

    from tests.conftest import SmtpSink

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, timeout=0.3)
    controller.start()
    try:
        text = SEND_YAML.replace("  max_attempts: 4\n", "  max_attempts: 1\n  rate_limit: 2\n")
        root = make_project({"reports.yaml": text})
        result = send(
            load_project(root, environ={}),
            transport=SmtpTransport("127.0.0.1", port, "none"),
            clock=lambda: FIXED_NOW,
            sleep=time.sleep,  # real pauses: the server closes the connection meanwhile
        )
    finally:
        controller.stop()
    assert [m.state for m in result.messages] == ["sent"] * 3, result.messages
    assert len(sink.messages) == 3


def test_smtp_connection_dropped_after_the_data_is_uncertain_and_sent_once(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    root = make_project({"reports.yaml": SEND_YAML})
    with FaultProxy(port, b"\r\n.\r\n", times=1) as proxy:
        result = run_send(
            load_project(root, environ={}),
            SmtpTransport("127.0.0.1", proxy.port, "none"),
            reports=["ceo"],
        )
    assert [m.state for m in result.messages] == ["uncertain"]
    assert len(sink.messages) == 1
    again = run_send(
        load_project(root, environ={}), SmtpTransport("127.0.0.1", port, "none"), reports=["ceo"]
    )
    assert [m.state for m in again.messages] == ["uncertain"]
    assert len(sink.messages) == 1


# --------------------------------------------------------------------------- item 7


@pytest.mark.slow
def test_resend_one_burst_instance(make_project: MakeProject, tmp_path: Path) -> None:
    root = burst_project(make_project)
    box = OutboxTransport(tmp_path / "box")
    assert {m.state for m in run_send(load_project(root, environ={}), box).messages} == {"sent"}
    result = CliRunner().invoke(
        main,
        [
            "-C",
            str(root),
            "send",
            "--transport",
            "outbox",
            "--outbox",
            str(tmp_path / "box"),
            "--resend",
            "--persona",
            "store-S3",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("sent")]
    assert len(lines) == 1 and "store-S3" in lines[0], result.output
    assert "1 sent" in result.output
    with closing(ledger_of(root)) as ledger:
        (row,) = ledger.rows("store-S3")
        assert row.override == "resend" and row.attempts == 2
    unknown = CliRunner().invoke(main, ["-C", str(root), "send", "--persona", "store-S9"])
    assert unknown.exit_code == 3
    assert "--persona: no report 'store-S9' (did you mean 'store-S5'?)" in unknown.output
