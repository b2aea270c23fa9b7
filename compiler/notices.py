"""Failure notices (``notify:``): one short notice per run that ended badly.

A notice says which command ran, for which period and run, each report that failed,
was blocked or is uncertain (its state, the kind of error and where), and the command
that shows more. It never carries report contents: no figures, no rows, no error
messages (one may quote a data cell), no recipients' addresses.

It goes by email through the delivery transport and/or as a JSON POST to a webhook,
and is recorded in the ledger per channel under a key made of the command, the period
and the outcomes: a retried run that fails the same way does not notify again, while
a run that succeeds forgets the period's notices, so the next failure is news again.
A notice that cannot be delivered is logged and tried again by the next run; it never
changes the run's own outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from .addresses import bare_address
from .config.model import NotifySpec, Project
from .deliver import BLOCKED_BY_CHECK, SendResult
from .delivery import Ledger, SendFailure, Transport, open_ledger
from .delivery.registry import make_transport
from .errors import ReportcError
from .logs import get_logger
from .mime import Envelope
from .plan import BuildResult, utc_now
from .states import MessageState

#: post(url, body, timeout) -> HTTP status; raises OSError when nothing was accepted
Post = Callable[[str, bytes, float], int]

_log = get_logger("notify")


@dataclass(frozen=True)
class Failure:
    """One report that ended badly: its state, the kind of error, and where."""

    report: str
    state: str  # failed | blocked | uncertain
    kind: str = ""
    where: str = ""


@dataclass(frozen=True)
class Outcome:
    """How a ``build`` or ``send`` run ended, as a notice tells it."""

    command: str
    period: str
    run_id: str
    failures: tuple[Failure, ...] = ()

    @property
    def see_more(self) -> str:
        what = "status" if self.command == "send" else "build"
        return f"reportc {what} --period {self.period}"

    def wanted(self, spec: NotifySpec) -> tuple[Failure, ...]:
        return tuple(f for f in self.failures if f.state in spec.on)

    def key(self, failures: Sequence[Failure]) -> str:
        text = json.dumps(
            [self.command, self.period, sorted((f.report, f.state, f.kind) for f in failures)]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class NoticeResult:
    channel: str  # email | webhook
    state: str  # sent | skipped | failed
    detail: str = ""


def _kind(exc: ReportcError) -> str:
    return type(exc).__name__.removesuffix("Error").removesuffix("Failed").lower() or "error"


def _where(exc: ReportcError) -> str:
    for p in exc.problems:
        if p.location is not None or p.path:
            return ": ".join(filter(None, (str(p.location or ""), p.path)))
    return ""


def build_outcome(result: BuildResult, run_id: str) -> Outcome:
    failures = [
        Failure(r.name, "failed", _kind(r.error), _where(r.error))
        for r in result.reports
        if r.error is not None
    ]
    failures += [Failure(r.name, "blocked", "check") for r in result.reports if r.blocked]
    return Outcome("build", result.period, run_id, tuple(failures))


def send_outcome(result: SendResult, period: str) -> Outcome:
    failures = []
    for m in result.messages:
        if m.state is MessageState.UNCERTAIN:
            failures.append(Failure(m.report, "uncertain", "delivery"))
        elif m.state is MessageState.FAILED and m.detail.startswith(BLOCKED_BY_CHECK):
            failures.append(Failure(m.report, "blocked", "check"))
        elif m.state is MessageState.FAILED or (
            m.state is MessageState.NOT_SENT and result.stopped
        ):
            failures.append(Failure(m.report, "failed", "delivery"))
    return Outcome("send", period, result.run_id, tuple(failures))


def error_outcome(command: str, period: str, run_id: str, exc: ReportcError) -> Outcome:
    """A run that stopped with an error before any report's outcome was known."""
    return Outcome(command, period, run_id, (Failure("*", "failed", _kind(exc), _where(exc)),))


def text_of(project: Project, outcome: Outcome, failures: Sequence[Failure]) -> str:
    """The notice in a few plain lines."""
    lines = [
        f"reportc {outcome.command} for {project.organisation}, period {outcome.period}: "
        f"{len(failures)} problem(s) (run {outcome.run_id} on {socket.gethostname()})",
        "",
    ]
    for f in failures:
        name = "the whole run" if f.report == "*" else f"report '{f.report}'"
        detail = ", ".join(filter(None, (f.kind and f"{f.kind} error", f.where)))
        lines.append(f"- {name}: {f.state}" + (f" ({detail})" if detail else ""))
    lines += ["", f"See more: {outcome.see_more}"]
    return "\n".join(lines) + "\n"


def notify(
    project: Project,
    outcome: Outcome,
    *,
    transport: Transport | None = None,
    transport_name: str | None = None,
    post: Post | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> tuple[NoticeResult, ...]:
    """Tell ``notify:`` about ``outcome`` (once per outcome), or forget old notices when
    the run ended well. Never raises for a notice that could not be delivered."""
    spec = project.notify
    if spec is None:
        return ()
    failures = outcome.wanted(spec)
    ledger = open_ledger(project, clock or utc_now)
    try:
        if not failures:
            ledger.clear_notices(outcome.command, outcome.period)
            return ()
        key = outcome.key(failures)
        text = text_of(project, outcome, failures)
        results = []
        if spec.email:
            results.append(
                _once(
                    ledger,
                    key,
                    "email",
                    outcome,
                    lambda: _email(
                        project, spec, outcome, failures, text, transport, transport_name, clock
                    ),
                )
            )
        if spec.webhook:
            results.append(
                _once(
                    ledger,
                    key,
                    "webhook",
                    outcome,
                    lambda: _webhook(project, spec, outcome, failures, text, post or _post),
                )
            )
        return tuple(results)
    finally:
        ledger.close()


def _once(
    ledger: Ledger, key: str, channel: str, outcome: Outcome, deliver: Callable[[], str]
) -> NoticeResult:
    if ledger.notified(key, channel):
        _log.info("notice by %s already sent for these failures: not sent again", channel)
        return NoticeResult(channel, "skipped", "already notified")
    record = {"command": outcome.command, "period": outcome.period, "run_id": outcome.run_id}
    ledger.notice(key, channel, state="sending", **record)
    try:
        detail = deliver()
    except (SendFailure, OSError, ReportcError) as exc:
        _log.warning("the notice by %s could not be delivered: %s", channel, exc)
        return NoticeResult(channel, "failed", str(exc))
    ledger.notice(key, channel, state="sent", **record)
    _log.info("notice sent by %s (%s)", channel, detail)
    return NoticeResult(channel, "sent", detail)


def _email(
    project: Project,
    spec: NotifySpec,
    outcome: Outcome,
    failures: Sequence[Failure],
    text: str,
    transport: Transport | None,
    transport_name: str | None,
    clock: Callable[[], dt.datetime] | None,
) -> str:
    sender = project.delivery.sender
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(spec.email)
    msg["Subject"] = (
        f"[reportc] {outcome.command} {'/'.join(sorted({f.state for f in failures}))}: "
        f"{project.organisation}, {outcome.period}"
    )
    msg["Date"] = format_datetime((clock or utc_now)())
    domain = bare_address(sender).partition("@")[2] or "reportc.invalid"
    msg["Message-ID"] = message_id = make_msgid("notice", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    envelope = Envelope(
        report="notify",
        key=f"notice:{outcome.run_id}",
        sender=sender,
        to=tuple(spec.email),
        cc=(),
        bcc=(),
        subject=str(msg["Subject"]),
        message_id=message_id,
        raw=msg.as_bytes(),
        pdf_sha256="",
    )
    own = transport is None
    transport = transport or make_transport(project, transport_name or project.delivery.transport)
    try:
        return transport.send(envelope)
    finally:
        if own:
            transport.close()


def _webhook(
    project: Project,
    spec: NotifySpec,
    outcome: Outcome,
    failures: Sequence[Failure],
    text: str,
    post: Post,
) -> str:
    body = {
        "text": text,
        "reportc": {
            "schema_version": 1,
            "command": outcome.command,
            "organisation": project.organisation,
            "period": outcome.period,
            "run_id": outcome.run_id,
            "host": socket.gethostname(),
            "failures": [asdict(f) for f in failures],
            "see_more": outcome.see_more,
        },
    }
    status = post(spec.webhook, json.dumps(body).encode(), spec.timeout)
    if not 200 <= status < 300:
        raise OSError(f"the webhook answered HTTP {status}")
    return f"HTTP {status} from {urlsplit(spec.webhook).hostname}"


def _post(url: str, body: bytes, timeout: float) -> int:
    """POST JSON; only http(s) (the schema check refuses other schemes)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise OSError("the webhook must be an http(s) URL")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
