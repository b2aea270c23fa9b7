"""reportc send: real SES over HTTP (moto's server), real SMTP (aiosmtpd), outbox."""

from __future__ import annotations

import email
import hashlib
import json
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from reportc import load_project
from reportc.cli import main
from reportc.delivery import Ledger, OutboxTransport, SesTransport, make_ses_clients, send_lock
from reportc.dispatch import send
from reportc.errors import DeliveryError
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject, MotoServer, SmtpSink


def parse(raw: bytes | str) -> EmailMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def no_sleep(seconds: float) -> None:
    return None


def ses(moto: MotoServer) -> SesTransport:
    v2, v1 = make_ses_clients("us-east-1", moto.url, moto.env())
    return SesTransport(v2, v1)


def fail_calls(
    transport: SesTransport,
    code: str,
    message: str,
    status: int,
    times: int = 10**6,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, int]:
    """A botocore event hook that answers SendEmail with an error, ``times`` times."""
    seen = {"failed": 0, "calls": 0}

    def hook(params: dict[str, Any], **kwargs: Any) -> Any:
        seen["calls"] += 1
        request = json.loads(params["body"])  # sesv2 is rest-json: the API params
        if (when is None or when(request)) and seen["failed"] < times:
            seen["failed"] += 1
            body = {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            return AWSResponse("http://127.0.0.1/", status, {}, None), body
        return None

    transport.client.meta.events.register("before-call.sesv2.SendEmail", hook)
    return seen


def project_for(
    make_project: MakeProject, moto: MotoServer | None = None, yaml_text: str = SEND_YAML
) -> Any:
    root = make_project({"reports.yaml": yaml_text})
    return load_project(root, environ=moto.env() if moto else {})


def run_send(project: Any, transport: Any, **kwargs: Any) -> Any:
    return send(project, transport=transport, clock=lambda: FIXED_NOW, sleep=no_sleep, **kwargs)


def test_ses_delivers_each_report_once_with_the_audit_bcc(
    make_project: MakeProject, moto: MotoServer
) -> None:
    moto.verify("example.com")
    project = project_for(make_project, moto)
    result = run_send(project, ses(moto))
    assert result.ok, result
    assert [m.state for m in result.messages] == ["sent", "sent", "sent"]
    raw = moto.raw_messages()
    assert len(raw) == 3
    by_report = {parse(r["raw_data"])["X-Reportc-Report"]: r for r in raw}
    cfo = by_report["cfo"]
    assert set(cfo["destinations"]) >= {
        "cfo@example.com",
        "ceo@example.com",
        "board@example.org",
        "audit@example.org",
    }
    for record in raw:
        data = record["raw_data"]
        assert "\nBcc:" not in data and not data.startswith("Bcc:")
        assert "audit@example.org" not in data
        assert all(ord(ch) < 128 for ch in data)
        assert max(len(line) for line in data.split("\r\n")) < 1000
        assert "audit@example.org" in record["destinations"]
    msg = parse(cfo["raw_data"])
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parts[0].iter_parts()] == ["text/plain", "text/html"]
    assert parts[1].get_content_type() == "application/pdf"
    assert parts[1].get_content_disposition() == "attachment"
    pdf = parts[1].get_content()
    on_disk = (project.root / "dist" / "cfo.pdf").read_bytes()
    assert hashlib.sha256(pdf).hexdigest() == hashlib.sha256(on_disk).hexdigest()
    assert msg["From"] == "Société Example <reports@example.com>"
    assert "=?utf-8?" in cfo["raw_data"].split("\r\n\r\n")[0]  # the header is encoded
    assert msg["Subject"] == "CFO Report — October 2026"
    assert msg["X-Reportc-Run"] == result.run_id
    assert msg["Message-ID"].strip().endswith("@example.com>")
    assert msg["Date"] is not None
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "CFO Report — October 2026" in text
    cmo = parse(by_report["cmo"]["raw_data"])
    assert cmo["To"] == "Zoë Müller <cmo@example.com>"
    assert cmo["Subject"] == "CMO Report — Zoë's view — October 2026"
    assert next(iter(cmo.iter_attachments())).get_filename() == (
        "Example Org CMO Report — Zoë's view October 2026.pdf"
    )
    assert (
        "filename*0*=utf-8''Example%20Org%20CMO%20Report%20%E2%80%94%20Zo%C3%AB"
        in (by_report["cmo"]["raw_data"])
    )  # RFC 2231, with continuations

    # A second run sends nothing.
    again = run_send(project, ses(moto))
    assert again.ok
    assert [m.state for m in again.messages] == ["skipped", "skipped", "skipped"]
    assert len(moto.raw_messages()) == 3


@pytest.mark.slow
def test_unverified_sender_is_refused_before_anything_is_sent(
    make_project: MakeProject, moto: MotoServer
) -> None:
    project = project_for(make_project, moto)
    with pytest.raises(DeliveryError) as info:
        run_send(project, ses(moto))
    assert [p.message for p in info.value.problems] == [
        "sender: 'reports@example.com' is not a verified SES identity, nor is its domain; "
        "verify it in SES first",
        "preflight failed: nothing was sent",
    ]
    assert moto.raw_messages() == []


@pytest.mark.slow
def test_throttling_is_retried_and_sent_once(make_project: MakeProject, moto: MotoServer) -> None:
    moto.verify("reports@example.com")
    project = project_for(make_project, moto)
    transport = ses(moto)
    seen = fail_calls(
        transport, "TooManyRequestsException", "Maximum sending rate exceeded.", 429, times=2
    )
    waits: list[float] = []
    result = send(
        project, reports=["ceo"], transport=transport, clock=lambda: FIXED_NOW, sleep=waits.append
    )
    assert result.ok
    assert seen == {"failed": 2, "calls": 3}
    assert len(moto.raw_messages()) == 1
    ledger = Ledger(project.root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)
    row = ledger.rows()[0]
    assert (row.state, row.attempts) == ("sent", 3)
    states = [e[2] for e in ledger.events(row.key)]
    assert states == ["pending", "sending", "pending", "sending", "pending", "sending", "sent"]


@pytest.mark.slow
def test_a_rejected_message_fails_alone(make_project: MakeProject, moto: MotoServer) -> None:
    moto.verify("example.com")
    project = project_for(make_project, moto)
    transport = ses(moto)
    fail_calls(
        transport,
        "MessageRejected",
        "Email address is on the suppression list.",
        400,
        when=lambda p: p["Destination"]["ToAddresses"] == ["cfo@example.com"],
    )
    result = run_send(project, transport)
    assert not result.ok
    assert [(m.report, m.state) for m in result.messages] == [
        ("ceo", "sent"),
        ("cfo", "failed"),
        ("cmo", "sent"),
    ]
    assert result.messages[1].detail == (
        "MessageRejected: Email address is on the suppression list."
    )
    assert len(moto.raw_messages()) == 2
    ledger = Ledger(project.root / ".reportc/ledger.sqlite", lambda: FIXED_NOW)
    failed = [r for r in ledger.rows() if r.state == "failed"]
    assert [(r.report, r.error) for r in failed] == [
        ("cfo", "MessageRejected: Email address is on the suppression list.")
    ]
    # Running again retries only what failed.
    again = run_send(project, ses(moto))
    assert [m.state for m in again.messages] == ["skipped", "sent", "skipped"]


@pytest.mark.slow
def test_daily_quota_stops_the_run_and_a_later_run_resumes(
    make_project: MakeProject, moto: MotoServer
) -> None:
    moto.verify("example.com")
    project = project_for(make_project, moto)
    transport = ses(moto)
    fail_calls(
        transport,
        "Throttling",
        "Daily message quota exceeded.",
        400,
        when=lambda p: p["Destination"]["ToAddresses"] == ["cfo@example.com"],
    )
    result = run_send(project, transport)
    assert [(m.report, m.state) for m in result.messages] == [
        ("ceo", "sent"),
        ("cfo", "not-sent"),
        ("cmo", "not-sent"),
    ]
    assert "run 'reportc send' again later" in result.stopped
    assert len(moto.raw_messages()) == 1
    again = run_send(project, ses(moto))
    assert [m.state for m in again.messages] == ["skipped", "sent", "sent"]
    assert len(moto.raw_messages()) == 3


@pytest.mark.slow
def test_paused_account_aborts(make_project: MakeProject, moto: MotoServer) -> None:
    moto.verify("example.com")
    project = project_for(make_project, moto)
    transport = ses(moto)
    fail_calls(transport, "SendingPausedException", "Sending is paused for this account.", 400)
    result = run_send(project, transport)
    assert [m.state for m in result.messages] == ["not-sent", "not-sent", "not-sent"]
    assert "the provider refused to continue" in result.stopped


@pytest.mark.slow
def test_insufficient_quota_is_refused_in_preflight(
    make_project: MakeProject, moto: MotoServer
) -> None:
    moto.verify("example.com")
    project = project_for(make_project, moto)
    transport = ses(moto)

    def low_quota(**kwargs: Any) -> Any:
        body = {
            "Max24HourSend": 3.0,
            "MaxSendRate": 1.0,
            "SentLast24Hours": 1.0,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        return AWSResponse("http://127.0.0.1/", 200, {}, None), body

    transport.v1_client.meta.events.register("before-call.ses.GetSendQuota", low_quota)
    with pytest.raises(DeliveryError) as info:
        run_send(project, transport)
    assert info.value.problems[0].message == (
        "this run needs 8 recipients of quota, only 2 of 3 remain in the last 24 hours"
    )
    assert moto.raw_messages() == []


@pytest.mark.slow
def test_header_injection_fails_that_message_alone(
    make_project: MakeProject, moto: MotoServer
) -> None:
    text = SEND_YAML.replace("title: CFO Report", 'title: "CFO Report\\r\\nBcc: evil@example.net"')
    project = project_for(make_project, moto, text)
    moto.verify("example.com")
    result = run_send(project, ses(moto))
    assert [(m.report, m.state) for m in result.messages] == [
        ("ceo", "sent"),
        ("cfo", "failed"),
        ("cmo", "sent"),
    ]
    assert (
        "report 'cfo': the subject contains a line break: 'CFO Report\\r\\nBcc: evil@example.net"
        in result.messages[1].detail
    )
    sent = [parse(m["raw_data"]) for m in moto.raw_messages()]
    assert len(sent) == 2
    assert all("evil" not in str(m) for m in sent)


@pytest.mark.slow
def test_oversize_message_fails_alone(make_project: MakeProject, tmp_path: Path) -> None:
    rows = "".join(f"Region {i},{i}\n" for i in range(400))
    root = make_project({"reports.yaml": SEND_YAML, "data/sales.csv": "region,amount\n" + rows})
    project = load_project(root, environ={})
    box = OutboxTransport(tmp_path / "box", max_message_bytes=40_000)
    result = run_send(project, box)
    sizes = {m.report: m.size for m in result.messages}
    states = {m.report: m.state for m in result.messages}
    assert states == {r: ("sent" if sizes[r] <= 40_000 else "failed") for r in sizes}
    assert "failed" in states.values() and "sent" in states.values()
    failed = next(m for m in result.messages if m.state == "failed")
    assert failed.detail == (
        f"message is {failed.size:,} bytes encoded; outbox accepts at most 40,000"
    )


def test_smtp_envelope_has_the_bcc_and_the_data_does_not(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    text = SEND_YAML.replace(
        "  max_attempts: 4\n",
        f"  max_attempts: 4\n  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {port}, "
        "security: none}\n",
    )
    project = project_for(make_project, yaml_text=text)
    result = send(project, clock=lambda: FIXED_NOW, sleep=no_sleep)
    assert result.ok, result
    assert len(sink.messages) == 3
    mail_from, rcpts, data = next(m for m in sink.messages if b"X-Reportc-Report: cfo" in m[2])
    assert mail_from == "reports@example.com"
    assert sorted(rcpts) == [
        "audit@example.org",
        "board@example.org",
        "ceo@example.com",
        "cfo@example.com",
    ]
    assert b"\nBcc:" not in data and b"audit@example.org" not in data
    msg = parse(data)
    assert msg["To"] == "cfo@example.com" and msg["Cc"] == "ceo@example.com"


@pytest.mark.slow
def test_dry_run_writes_the_outbox_and_contacts_nothing(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    result = CliRunner().invoke(
        main, ["-C", str(root), "send", "--dry-run"], env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    )
    assert result.exit_code == 0, result.output
    assert "DRY RUN: nothing was sent; 3 messages written to" in result.output
    assert "  to:      c***@example.com" in result.output
    assert "  bcc:     2 (envelope only)" in result.output
    assert "  subject: CFO Report — October 2026" in result.output
    files = sorted((root / "dist/outbox").glob("*.eml"))
    assert [f.name.split("-")[0] for f in files] == ["ceo", "cfo", "cmo"]
    msg = parse(files[1].read_bytes())
    assert msg["To"] == "cfo@example.com"
    assert msg["Bcc"] is None
    assert not (root / ".reportc/ledger.sqlite").exists()  # no ledger: nothing recorded


@pytest.mark.slow
def test_redirect_limit_resend_and_status(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    box = tmp_path / "box"
    cli = CliRunner()
    args = ["-C", str(root), "send", "--transport", "outbox", "--outbox", str(box)]
    redirected = cli.invoke(main, [*args, "--redirect-to", "qa@example.org", "--limit", "1"])
    assert redirected.exit_code == 1, redirected.output  # the other two were not sent
    assert "sent       ceo          q***@example.org" in redirected.output
    assert "not-sent   cfo" in redirected.output and "--limit 1" in redirected.output
    eml = parse(next(box.glob("ceo-*.eml")).read_bytes())
    assert eml["To"] == "qa@example.org"
    assert eml["Subject"] == "[TEST for ceo] CEO Report — October 2026"
    real = cli.invoke(main, args)
    assert real.exit_code == 0, real.output
    assert real.output.count("sent       ") == 3  # the redirect did not count as the real send
    again = cli.invoke(main, args)
    assert again.exit_code == 0
    assert again.output.count("skipped    ") == 3
    forced = cli.invoke(main, [*args, "--resend", "--persona", "cfo"])
    assert forced.exit_code == 0
    assert "sent       cfo" in forced.output
    status = cli.invoke(main, ["-C", str(root), "status"])
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0].split() == [
        "report",
        "recipient",
        "as",
        "state",
        "updated",
        "message",
        "id",
        "/",
        "error",
    ]
    cfo_lines = [ln for ln in lines if ln.startswith("cfo ")]
    assert [ln.split()[1:4] for ln in cfo_lines] == [
        ["c***@example.com", "to", "sent"],
        ["c***@example.com", "cc", "sent"],
        ["b***@example.org", "bcc", "sent"],
        ["a***@example.org", "bcc", "sent"],
    ]
    assert any("(redirected to q***@example.org)" in ln for ln in lines)
    assert "cfo@example.com" not in status.output
    full = cli.invoke(main, ["-C", str(root), "status", "--show-addresses", "--persona", "cfo"])
    assert "cfo@example.com" in full.output


def test_two_sends_cannot_run_at_once(make_project: MakeProject, tmp_path: Path) -> None:
    project = project_for(make_project)
    with send_lock(project.root / ".reportc"), pytest.raises(DeliveryError) as info:
        run_send(project, OutboxTransport(tmp_path / "box"))
    assert info.value.problems[0].message == "another 'reportc send' is running for this project"


def test_extra_csv_attachment_with_defused_formulas(
    make_project: MakeProject, tmp_path: Path
) -> None:
    text = SEND_YAML.replace(
        "    sections: [summary, sales_table]\n    recipients:\n      to: ceo@example.com",
        "    sections: [summary, sales_table]\n    attachments: [{section: sales_table}]\n"
        "    recipients:\n      to: ceo@example.com",
    )
    root = make_project(
        {
            "reports.yaml": text,
            "data/sales.csv": 'region,amount\n"=HYPERLINK(""x"")",10\nSouth,-5\n',
        }
    )
    project = load_project(root, environ={})
    box = OutboxTransport(tmp_path / "box")
    assert run_send(project, box, reports=["ceo"]).ok
    msg = parse(next((tmp_path / "box").glob("ceo-*.eml")).read_bytes())
    attachments = list(msg.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf", "text/csv"]
    assert attachments[1].get_filename() == "sales_table.csv"
    assert attachments[1].get_content().splitlines() == [
        "region,amount",
        '"\'=HYPERLINK(""x"")",10',
        "South,-5",
    ]


@pytest.mark.slow
def test_send_reuses_an_up_to_date_build(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project({"reports.yaml": SEND_YAML})
    project = load_project(root, environ={})
    from reportc import build

    build(project, clock=lambda: FIXED_NOW)
    before = {p.name: p.stat().st_mtime_ns for p in (root / "dist").glob("*.pdf")}
    run_send(project, OutboxTransport(tmp_path / "box"))
    after = {p.name: p.stat().st_mtime_ns for p in (root / "dist").glob("*.pdf")}
    assert before == after
    manifest = json.loads((root / "dist/manifest.json").read_text())
    assert set(manifest["reports"]) == {"ceo", "cfo", "cmo"}
    # Change the data: the next send rebuilds before sending.
    (root / "data/sales.csv").write_text("region,amount\nNorth,1\n")
    result = run_send(load_project(root, environ={}), OutboxTransport(tmp_path / "box"))
    assert [m.state for m in result.messages] == ["sent", "sent", "sent"]
    changed = {p.name: p.stat().st_mtime_ns for p in (root / "dist").glob("*.pdf")}
    assert changed["ceo.pdf"] != before["ceo.pdf"]


@pytest.mark.slow
def test_example_project_delivers_five_reports_over_ses(
    example_build: Any, moto: MotoServer
) -> None:
    from tests.chatfakes import webhook_receiver

    moto.verify("example.com")
    root = example_build.out_dir.parent
    before = {p.name: p.read_bytes() for p in example_build.out_dir.glob("*.pdf")}
    with webhook_receiver(200) as hook:
        env = {**moto.env(), "CEO_WEBHOOK_URL": hook.url}
        result = run_send(load_project(root, environ=env), ses(moto))
        assert result.ok, result
        assert [(m.report, m.state) for m in result.messages] == [
            (name, "sent") for name in ("ceo", "ceo", "cto", "cfo", "cmo", "accounting")
        ]
        assert [m.to for m in result.messages][1] == ("webhook:teams:127.0.0.1",)
        assert [b["title"] for b in hook.bodies] == ["CEO Report — October 2026"]
        raw = moto.raw_messages()
        assert len(raw) == 5
        for record in raw:
            assert "audit@example.org" in record["destinations"]
            msg = parse(record["raw_data"])
            files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
            pdf = next(iter(files.values()))
            assert pdf == before[f"{msg['X-Reportc-Report']}.pdf"]  # the built PDF, not a rebuild
            if msg["X-Reportc-Report"] == "cfo":  # and the CFO's workbook beside it
                assert [n for n in files if n and n.endswith(".xlsx")] == [
                    "JADA Group CFO Report October 2026.xlsx"
                ]
        again = run_send(load_project(root, environ=env), ses(moto))
        assert [m.state for m in again.messages] == ["skipped"] * 6
        assert len(moto.raw_messages()) == 5 and len(hook.bodies) == 1


def test_the_send_lock_holds_across_processes_and_dies_with_its_holder(tmp_path: Path) -> None:
    """The lock (filelock: fcntl here, msvcrt on Windows) stops a second process, names
    the holder's pid, and is freed by the OS when the holder is killed with -9."""
    import signal
    import subprocess
    import sys

    state = tmp_path / "state"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from reportc.delivery import send_lock\n"
            f"with send_lock(Path({str(state)!r})):\n"
            "    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DeliveryError) as info, send_lock(state):
            pass
        assert f"its process id: {holder.pid}" in info.value.problems[0].hint
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with send_lock(state):  # freed by the OS
        pass
