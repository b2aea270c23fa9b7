"""Delivering envelopes under the ledger: what the ledger already settles (sent, or
uncertain after a crash), the size check, preflight, the rate limit, and each message
sent once with retries on transient failures, recorded before and after every attempt.
Results are :class:`MessageResult` per message and :class:`SendResult` per run."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config.model import Project
from .delivery import (
    Ledger,
    RateLimiter,
    RetryPolicy,
    SendFailure,
    Transport,
)
from .errors import DeliveryError, Problem
from .logs import get_logger
from .mime import Envelope
from .states import LedgerState, MessageState

_log = get_logger("send")

#: progress(event, report, detail); events: planned (report "", detail: how many messages
#: will be tried), sent, failed, uncertain, waiting
SendProgress = Callable[[str, str, str], None]

#: how a report held back by a failed quality check reads in its message's detail
BLOCKED_BY_CHECK = "blocked by a failed check"


@dataclass(frozen=True)
class MessageResult:
    report: str
    state: MessageState
    detail: str = ""
    key: str = ""
    message_id: str = ""
    subject: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc_count: int = 0
    size: int = 0
    attachments: tuple[tuple[str, int], ...] = ()
    path: str = ""
    #: slack or webhook for a channel delivery ("" for an email)
    channel: str = ""

    @property
    def ok(self) -> bool:
        return self.state in (MessageState.SENT, MessageState.SKIPPED, MessageState.DRY_RUN)


@dataclass(frozen=True)
class SendResult:
    run_id: str
    transport: str
    messages: tuple[MessageResult, ...]
    notes: tuple[str, ...] = ()
    stopped: str = ""
    dry_run: bool = False
    outbox: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.stopped and all(m.ok for m in self.messages)

    def count(self, state: str) -> int:
        return sum(1 for m in self.messages if m.state == state)


def message_result(
    env: Envelope, state: MessageState, detail: str = "", message_id: str = "", path: str = ""
) -> MessageResult:
    return MessageResult(
        report=env.report,
        state=state,
        detail=detail,
        key=env.key,
        message_id=message_id,
        subject=env.subject,
        to=env.to,
        cc=env.cc,
        bcc_count=len(env.bcc),
        size=env.size,
        attachments=env.attachments,
        path=path,
        channel=env.tags.get("channel", ""),
    )


def _triage(
    project: Project,
    envelopes: Sequence[Envelope],
    transport: Transport,
    ledger: Ledger,
    run_id: str,
    resend: bool,
) -> tuple[dict[str, MessageResult], list[Envelope]]:
    """What the ledger already settles (sent, uncertain), what cannot go (too big), and
    the envelopes left to send."""
    results: dict[str, MessageResult] = {}
    todo: list[Envelope] = []
    for env in envelopes:
        row = ledger.get(env.key)
        if row is not None and row.state == LedgerState.SENT and not resend:
            results[env.key] = message_result(
                env, MessageState.SKIPPED, f"already sent {row.updated_at}", row.message_id
            )
        elif row is not None and row.state == LedgerState.SENDING and not resend:
            results[env.key] = message_result(
                env,
                MessageState.UNCERTAIN,
                f"a previous run stopped while sending this message ({row.updated_at}); it may "
                "have been delivered — check, then use --resend-uncertain to send it again",
            )
        elif env.size > transport.max_message_bytes:
            ledger.plan(env, period=project.period.label, run_id=run_id, transport=transport.name)
            reason = (
                f"message is {env.size:,} bytes encoded; {transport.name} accepts at most "
                f"{transport.max_message_bytes:,}"
            )
            ledger.mark(env.key, run_id, LedgerState.FAILED, error=reason)
            results[env.key] = message_result(env, MessageState.FAILED, reason)
        else:
            todo.append(env)
    return results, todo


def _override_note(
    env: Envelope, ledger: Ledger, resend: bool, overrides: Mapping[str, str]
) -> str:
    """Why this message goes out although something would normally stop it (recorded)."""
    parts = (
        f"redirected to {env.redirected_to}" if env.redirected_to else "",
        "resend" if resend and ledger.get(env.key) else "",
        overrides.get(env.report, ""),
    )
    return "; ".join(part for part in parts if part)


def deliver_envelopes(
    project: Project,
    envelopes: Sequence[Envelope],
    transport: Transport,
    ledger: Ledger,
    *,
    run_id: str,
    limit: int | None,
    resend: bool,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    rng: random.Random,
    progress: SendProgress | None,
    overrides: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> SendResult:
    overrides = overrides or {}
    values = values or {}
    results, todo = _triage(project, envelopes, transport, ledger, run_id, resend)
    if limit is not None:
        for env in todo[limit:]:
            results[env.key] = message_result(env, MessageState.NOT_SENT, f"--limit {limit}")
        todo = todo[:limit]
    notes: list[str] = []
    stopped = ""
    if todo:
        needed = sum(len(e.recipients) for e in todo)
        check = transport.preflight(project.delivery.sender, needed)
        if not check.ok:
            raise DeliveryError(
                [Problem(p) for p in check.problems]
                + [Problem("preflight failed: nothing was sent")]
            )
        notes.extend(check.notes)
        rates = [r for r in (project.delivery.rate_limit, check.max_rate) if r]
        limiter = RateLimiter(min(rates) if rates else None, monotonic, sleep)
        policy = RetryPolicy(max_attempts=project.delivery.max_attempts)
        _tell(progress, "planned", "", str(len(todo)))
        for n, env in enumerate(todo):
            override = _override_note(env, ledger, resend, overrides)
            ledger.plan(
                env,
                period=project.period.label,
                run_id=run_id,
                transport=transport.name,
                override=override,
                values_sha256=values.get(env.report, ""),
            )
            outcome = _send_one(
                env, transport, ledger, limiter, policy, run_id, sleep, rng, progress
            )
            results[env.key] = outcome
            if outcome.state is MessageState.NOT_SENT:
                stopped = outcome.detail
                for later in todo[n + 1 :]:
                    results[later.key] = message_result(later, MessageState.NOT_SENT, stopped)
                break
    ordered = tuple(results[e.key] for e in envelopes)
    return SendResult(run_id, transport.name, ordered, tuple(notes), stopped)


def _tell(progress: SendProgress | None, event: str, report: str, detail: str) -> None:
    """A message's progress: logged (a retry wait as a warning), and to ``progress``."""
    level = logging.WARNING if event == "waiting" else logging.INFO
    if event == "planned":
        _log.info("%s message(s) to send", detail, extra={"event": event})
    else:
        extra = {"report": report, "event": event}
        _log.log(level, "report '%s': %s: %s", report, event, detail, extra=extra)
    if progress:
        progress(event, report, detail)


def _send_one(
    env: Envelope,
    transport: Transport,
    ledger: Ledger,
    limiter: RateLimiter,
    policy: RetryPolicy,
    run_id: str,
    sleep: Callable[[float], None],
    rng: random.Random,
    progress: SendProgress | None,
) -> MessageResult:
    """One message through the transport: retried on a transient failure (with backoff),
    recorded in the ledger before and after every attempt."""
    for attempt in range(policy.max_attempts):
        limiter.acquire(len(env.recipients))
        ledger.mark(env.key, run_id, LedgerState.SENDING)
        try:
            message_id = transport.send(env)
        except SendFailure as failure:
            limiter.done(len(env.recipients))
            if failure.kind == "retry" and attempt + 1 < policy.max_attempts:
                ledger.mark(
                    env.key, run_id, LedgerState.PENDING, error=f"retrying: {failure.message}"
                )
                delay = policy.delay(attempt, rng)
                _tell(progress, "waiting", env.report, f"{failure.message}; retry in {delay:.1f}s")
                sleep(delay)
                continue
            return _given_up(env, failure, policy, ledger, run_id, progress)
        limiter.done(len(env.recipients))
        ledger.mark(env.key, run_id, LedgerState.SENT, message_id=message_id)
        _tell(progress, "sent", env.report, message_id)
        return message_result(env, MessageState.SENT, message_id=message_id)
    return message_result(env, MessageState.NOT_SENT, "max_attempts is 0: nothing was tried")


def _given_up(
    env: Envelope,
    failure: SendFailure,
    policy: RetryPolicy,
    ledger: Ledger,
    run_id: str,
    progress: SendProgress | None,
) -> MessageResult:
    """The result of a failure that is not retried: uncertain, stop the run, or failed."""
    last = failure.message
    if failure.kind == "uncertain":
        ledger.note(env.key, run_id, f"uncertain: {last}")
        _tell(progress, "uncertain", env.report, last)
        return message_result(
            env,
            MessageState.UNCERTAIN,
            f"{last}; it may have been delivered — check, then use --resend-uncertain",
        )
    if failure.kind in ("quota", "abort"):
        ledger.mark(env.key, run_id, LedgerState.PENDING, error=last)
        what = (
            "daily sending quota reached"
            if failure.kind == "quota"
            else "the provider refused to continue"
        )
        reason = (
            f"{what} ({last}); run 'reportc send' again later to send the rest — "
            "what was sent will not be sent twice"
        )
        _tell(progress, "failed", env.report, reason)
        return message_result(env, MessageState.NOT_SENT, reason)
    if failure.kind == "retry":  # no attempt left
        last = f"gave up after {policy.max_attempts} attempts: {last}"
    ledger.mark(env.key, run_id, LedgerState.FAILED, error=last)
    _tell(progress, "failed", env.report, last)
    return message_result(env, MessageState.FAILED, last)
