"""``notify:``: nobody misses a failure, nobody gets the same notice twice.

Against real servers on loopback: aiosmtpd for the email notice (through the smtp
transport) and a local HTTP receiver for the webhook. The promises: one notice per
run that ends badly; a retried run with the same failures does not notify again; a
success forgets, so the next failure notifies; the notice never carries report
contents; a notice that cannot be delivered never changes the run's outcome and is
tried again by the next run.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc.cli import main
from tests.conftest import MINIMAL_YAML, MakeProject, SmtpSink

HOSTILE_CSV = 'region,amount\nNorth,=HYPERLINK("http://evil.example.org")\nSouth,800\n'


class Receiver:
    """A local HTTP server that keeps every POST body (and can answer 500)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0K3N-secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _project(make_project: MakeProject, notify: str, extra_delivery: str = "") -> Path:
    yaml = MINIMAL_YAML.replace(
        "  audit_bcc: audit@example.org\n", f"  audit_bcc: audit@example.org\n{extra_delivery}"
    )
    return make_project({"reports.yaml": yaml + notify})


def _break(root: Path) -> None:
    (root / "data" / "sales.csv").write_text(HOSTILE_CSV)


def _fix(root: Path) -> None:
    (root / "data" / "sales.csv").write_text("region,amount\nNorth,1200\nSouth,800\n")


def _build(root: Path) -> int:
    args = ["-C", str(root), "build", "--format", "html", "--jobs", "1"]
    return CliRunner().invoke(main, args).exit_code


@pytest.mark.slow
def test_a_failed_build_notifies_the_webhook_once(
    make_project: MakeProject, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_WEBHOOK", receiver.url)
    root = _project(make_project, "notify:\n  webhook: ${OPS_WEBHOOK}\n")
    _break(root)
    assert _build(root) == 1
    assert _build(root) == 1  # retried: same failure, no second notice
    assert len(receiver.bodies) == 1
    (body,) = receiver.bodies
    details = body["reportc"]
    assert isinstance(details, dict)
    assert details["command"] == "build" and details["period"] == "2026-10"
    assert details["failures"] == [
        {
            "report": "ceo",
            "state": "failed",
            "kind": "data",
            "where": "reports.yaml:15:10: metrics.total_sales.sql",
        }
    ]
    assert "reportc build --period 2026-10" in str(body["text"])
    dumped = json.dumps(body)
    for content in ("HYPERLINK", "evil.example.org", "800", "ceo@example.com"):
        assert content not in dumped  # never report contents or recipients
    _fix(root)
    assert _build(root) == 0  # success forgets the notice ...
    _break(root)
    assert _build(root) == 1  # ... so the next failure is news again
    assert len(receiver.bodies) == 2


def test_a_notice_that_cannot_be_delivered_changes_nothing_and_is_tried_again(
    make_project: MakeProject, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_WEBHOOK", receiver.url)
    root = _project(make_project, "notify:\n  webhook: ${OPS_WEBHOOK}\n")
    _break(root)
    receiver.status = 500
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 1  # the build's own outcome
    assert (
        "warning: the notice by webhook could not be delivered: the webhook answered HTTP 500"
        in (result.stderr)
    )
    assert "T0K3N" not in result.stderr
    receiver.status = 200
    assert _build(root) == 1
    assert len(receiver.bodies) == 2  # the failed one, then the retry that got through


def test_a_failed_send_emails_the_notice_through_the_transport(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    root = _project(
        make_project,
        "notify:\n  on: [failed]\n  email: ops@example.com\n",
        f"  transport: smtp\n  max_attempts: 1\n  smtp: {{host: 127.0.0.1, port: {port}, "
        "security: none}\n",
    )
    _break(root)
    result = CliRunner().invoke(main, ["-C", str(root), "send"])
    assert result.exit_code == 1
    assert len(sink.messages) == 1
    mail_from, rcpts, raw = sink.messages[0]
    assert mail_from == "reports@example.com" and rcpts == ["ops@example.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "[reportc] send failed: Example Org, 2026-10"
    assert msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "- report 'ceo': failed (delivery error)" in text
    assert "See more: reportc status --period 2026-10" in text
    assert "HYPERLINK" not in text and not msg.is_multipart()  # no contents, no attachment
    CliRunner().invoke(main, ["-C", str(root), "send"])
    assert len(sink.messages) == 1  # notified once


def test_outcomes_not_asked_for_do_not_notify(
    make_project: MakeProject, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_WEBHOOK", receiver.url)
    root = _project(make_project, "notify:\n  on: [uncertain]\n  webhook: ${OPS_WEBHOOK}\n")
    _break(root)
    assert _build(root) == 1
    assert receiver.bodies == []


@pytest.mark.parametrize(
    ("notify", "expected"),
    [
        ("notify: {}\n", "reports.yaml:41:9: notify: notify needs an email address or a webhook"),
        (
            "notify: {webhook: 'ftp://example.org/x'}\n",
            "notify.webhook: the webhook must be an http:// or https:// URL",
        ),
        ("notify: {email: not-an-address}\n", "notify.email:"),
        ("notify: {email: ops@example.com, on: [sent]}\n", "notify.on[0]:"),
    ],
)
def test_a_bad_notify_block_is_refused_with_its_position(
    make_project: MakeProject, notify: str, expected: str
) -> None:
    root = _project(make_project, notify)
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 3
    assert expected in result.stderr, result.stderr


def test_a_send_held_back_by_a_failed_check_notifies_as_blocked(
    make_project: MakeProject, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_WEBHOOK", receiver.url)
    yaml = MINIMAL_YAML.replace(
        "  orders:\n    sql: SELECT count(*) FROM sales\n",
        "  orders:\n    sql: SELECT count(*) FROM sales\n    checks: {max: 2}\n",
    )
    root = make_project({"reports.yaml": yaml + "notify:\n  webhook: ${OPS_WEBHOOK}\n"})
    result = CliRunner().invoke(main, ["-C", str(root), "send", "--transport", "outbox"])
    assert result.exit_code == 1, result.output
    send_notices = [b for b in receiver.bodies if b["reportc"]["command"] == "send"]  # type: ignore[index]
    assert [b["reportc"]["failures"] for b in send_notices] == [  # type: ignore[index]
        [{"report": "ceo", "state": "blocked", "kind": "check", "where": ""}]
    ]
