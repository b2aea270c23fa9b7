"""The send state machine, one message at a time: every transition, every failure kind.

``deliver._send_one`` with a scripted transport and a real (temporary) ledger:
the ledger must say ``sending`` before the transport is called, and afterwards
exactly what happened.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from reportc.deliver import _send_one
from reportc.delivery import Ledger, Preflight, RateLimiter, RetryPolicy, SendFailure
from reportc.mime import Attachment, Envelope, compose

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


class Scripted:
    """A transport that answers each call from a script: a message id or a failure."""

    name = "scripted"
    max_message_bytes = 10_000_000

    def __init__(self, ledger: Ledger, *answers: str | SendFailure) -> None:
        self.answers = list(answers)
        self.ledger = ledger
        self.states_seen: list[str] = []

    def preflight(self, sender: str, recipients: int) -> Preflight:
        return Preflight(True)

    def send(self, envelope: Envelope) -> str:
        row = self.ledger.get(envelope.key)
        self.states_seen.append(row.state if row else "none")  # what a crash would leave
        answer = self.answers.pop(0)
        if isinstance(answer, SendFailure):
            raise answer
        return answer

    def close(self) -> None:
        return None


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(tmp_path / "ledger.sqlite", lambda: NOW)
    yield ledger
    ledger.close()


def _envelope() -> Envelope:
    return compose(
        report="cfo",
        sender="reports@example.com",
        to=["cfo@example.com"],
        bcc=["audit@example.org"],
        subject="CFO Report",
        text="t",
        html="<p>t</p>",
        attachments=[Attachment("cfo.pdf", b"%PDF-1.7")],
        run_id="run",
        when=NOW,
    )


def _run(ledger: Ledger, *answers: str | SendFailure, attempts: int = 3) -> tuple[str, Scripted]:
    env = _envelope()
    ledger.plan(env, period="2026-10", run_id="run", transport="scripted")
    transport = Scripted(ledger, *answers)
    sleeps: list[float] = []
    result = _send_one(
        env,
        transport,
        ledger,
        RateLimiter(None),
        RetryPolicy(max_attempts=attempts),
        "run",
        sleeps.append,
        random.Random(1),
        None,
    )
    row = ledger.get(env.key)
    assert row is not None
    return f"{result.state}/{row.state}", transport


def test_sent_first_time(ledger: Ledger) -> None:
    outcome, transport = _run(ledger, "msg-1")
    assert outcome == "sent/sent"
    assert transport.states_seen == ["sending"]  # durable before the call
    (row,) = ledger.rows()
    assert row.message_id == "msg-1" and row.attempts == 1


def test_retry_then_sent(ledger: Ledger) -> None:
    outcome, transport = _run(ledger, SendFailure("retry", "Throttling"), "msg-2")
    assert outcome == "sent/sent"
    assert transport.states_seen == ["sending", "sending"]
    (row,) = ledger.rows()
    assert row.attempts == 2
    states = [e[2] for e in ledger.events(row.key)]
    assert states == ["pending", "sending", "pending", "sending", "sent"]


def test_retries_exhausted_is_failed(ledger: Ledger) -> None:
    outcome, _ = _run(ledger, *[SendFailure("retry", "503")] * 3, attempts=3)
    assert outcome == "failed/failed"
    (row,) = ledger.rows()
    assert row.error == "gave up after 3 attempts: 503"


def test_uncertain_stays_sending_and_is_never_retried(ledger: Ledger) -> None:
    outcome, transport = _run(ledger, SendFailure("uncertain", "read timeout"), "never")
    assert outcome == "uncertain/sending"
    assert transport.answers == ["never"]  # not called again
    (row,) = ledger.rows()
    assert row.uncertain and row.error == "uncertain: read timeout"


@pytest.mark.parametrize("kind", ["quota", "abort"])
def test_quota_and_abort_stop_the_run_leaving_the_message_pending(
    ledger: Ledger, kind: str
) -> None:
    outcome, _ = _run(ledger, SendFailure(kind, "LimitExceeded"))
    assert outcome == "not-sent/pending"


def test_reject_fails_that_message(ledger: Ledger) -> None:
    outcome, transport = _run(ledger, SendFailure("reject", "MessageRejected"), "never")
    assert outcome == "failed/failed"
    assert transport.answers == ["never"]
