"""The send stage: reports -> envelopes -> transport, exactly once, with a ledger.

Order, so that nothing goes out unless everything can:

1. make sure every chosen report is built and up to date (reuse ``dist/``
   when re-rendering gives the same HTML as the manifest records; otherwise
   build it);
2. compose every message (a bad header value stops the run here);
3. ``--dry-run``: write them to the outbox folder and stop — no lock, no
   ledger, no network;
4. take the send lock, consult the ledger (already sent -> skip; left in
   ``sending`` by a crash -> uncertain, skip unless ``--resend``);
5. preflight the transport (identity, sending enabled, quota) for the whole run;
6. send one by one behind the rate limiter and the retry policy, recording
   ``sending`` before each call and ``sent``/``failed`` after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .addresses import address_key, address_problem, mask
from .config.model import Project
from .delivery import (
    Ledger,
    OutboxTransport,
    RateLimiter,
    RetryPolicy,
    SendFailure,
    Transport,
    existing_ledger,
    ledger_path,
    registry,
    send_lock,
)
from .errors import DeliveryError, Problem, ReportcError
from .mime import Envelope
from .packaging import Packaged, Prior, package, prior_of
from .plan import (
    Clock,
    default_clock,
    output_dir,
    utc_now,
)
from .ready import ReadyReport, only_instances, partial_selection, prepare_reports, select_reports

#: progress(event, report, detail); events: sent, failed, skipped, uncertain, waiting
SendProgress = Callable[[str, str, str], None]


@dataclass(frozen=True)
class MessageResult:
    report: str
    state: str  # sent | failed | skipped | uncertain | not-sent | dry-run
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

    @property
    def ok(self) -> bool:
        return self.state in ("sent", "skipped", "dry-run")


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


# --------------------------------------------------------------------------- build


# --------------------------------------------------------------------------- package


# --------------------------------------------------------------------------- transports


def make_transport(
    project: Project, name: str | None = None, outbox: Path | str | None = None
) -> Transport:
    """The configured transport (``--transport`` overrides ``delivery.transport``):
    a built-in one or one a plugin adds (:mod:`reportc.delivery.registry`)."""
    return registry.make_transport(
        project,
        name or project.delivery.transport,
        Path(outbox) if outbox else None,
        from_option=bool(name),
    )


# --------------------------------------------------------------------------- send


def _suppressed(project: Project) -> dict[str, str]:
    """Addresses that bounced permanently or complained (from ingested SES events)."""
    with existing_ledger(project) as ledger:
        return ledger.suppressed() if ledger is not None else {}


def _unchanged_since_sent(project: Project, ready: Mapping[str, ReadyReport]) -> dict[str, str]:
    """Reports with ``send_if: changed`` whose figures equal their last real send."""
    wanted = [n for n, item in ready.items() if item.spec.send_if == "changed"]
    held: dict[str, str] = {}
    if not wanted:
        return held
    with existing_ledger(project) as ledger:
        if ledger is None:
            return held
        for name in wanted:
            last = ledger.last_sent(name)
            pdf_sha = hashlib.sha256(ready[name].pdf).hexdigest()
            # The very PDF already sent is the ledger's business ("already sent").
            if (
                last is not None
                and last.pdf_sha256 != pdf_sha
                and last.values_sha256 == ready[name].values_sha256
            ):
                held[name] = (
                    f"figures unchanged since it was sent {last.updated_at} (send_if: changed; "
                    "--resend sends anyway)"
                )
    return held


def new_run_id(when: dt.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _result(
    env: Envelope, state: str, detail: str = "", message_id: str = "", path: str = ""
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
    )


def send(
    project: Project,
    *,
    reports: Sequence[str] | None = None,
    transport: Transport | None = None,
    transport_name: str | None = None,
    dry_run: bool = False,
    redirect_to: str | None = None,
    limit: int | None = None,
    resend: bool = False,
    resend_uncertain: bool = False,
    out_dir: Path | str | None = None,
    outbox: Path | str | None = None,
    clock: Clock | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    progress: SendProgress | None = None,
    include_suppressed: bool = False,
    allow_failed_checks: bool = False,
    allow_suppressed_audit: bool = False,
) -> SendResult:
    """Deliver the chosen reports, each at most once to each of its recipients."""
    if redirect_to:
        problem = address_problem(redirect_to)
        if problem:
            raise DeliveryError(Problem(f"--redirect-to: {problem}"))
    chosen, instances = select_reports(project, reports)
    chosen = [n for n in chosen if project.reports[n].send]
    now = (clock or utc_now)()
    run_id = new_run_id(now)
    out = output_dir(project, out_dir)
    ready, failed, persona_of = prepare_reports(
        project, chosen, out, clock or default_clock(project)
    )
    only_instances(
        ready, failed, persona_of, instances, partial_selection(reports, instances, project)
    )
    overrides = _unblock(ready, failed, allow_failed_checks)
    held: dict[str, str] = {}
    suppressed = {} if include_suppressed else _suppressed(project)
    audit_note = _audit_suppressed(project, suppressed, allow_suppressed_audit, redirect_to)
    if audit_note:
        overrides = {n: "; ".join(filter(None, (overrides.get(n), audit_note))) for n in ready}
    if not redirect_to and not resend:
        for name, why in _unchanged_since_sent(project, ready).items():
            del ready[name]
            held[name] = why
    plan = _Plan(
        project,
        ready,
        failed,
        held,
        run_id,
        now,
        redirect_to,
        suppressed,
        resend,
        resend_uncertain,
    )
    if dry_run:
        with existing_ledger(project) as ledger:
            packed = plan.package(ledger)
        folder = Path(outbox) if outbox else project.root / project.delivery.outbox
        box = OutboxTransport(folder if folder.is_absolute() else project.root / folder)
        results = tuple(_result(e, "dry-run", path=box.send(e)) for e in packed.envelopes.values())
        return SendResult(
            run_id,
            "dry-run",
            _in_order(results + plan.others(packed), persona_of),
            dry_run=True,
            outbox=box.folder,
        )
    transport = transport or make_transport(project, transport_name, outbox)
    with send_lock(project.root / project.delivery.state_dir):
        ledger = Ledger(ledger_path(project), clock or utc_now)
        try:
            packed = plan.package(ledger)
            result = _deliver(
                project,
                list(packed.envelopes.values()),
                transport,
                ledger,
                run_id=run_id,
                limit=limit,
                resend=resend or resend_uncertain,
                monotonic=monotonic,
                sleep=sleep,
                rng=rng or random.Random(),
                progress=progress,
                overrides=overrides,
                values={n: item.values_sha256 for n, item in ready.items()},
            )
            return dataclasses.replace(
                result, messages=_in_order(result.messages + plan.others(packed), persona_of)
            )
        finally:
            ledger.close()
            transport.close()


def _in_order(
    messages: tuple[MessageResult, ...], order: Mapping[str, str]
) -> tuple[MessageResult, ...]:
    """Results in the project's report order (several for one report stay in order)."""
    rank = {name: i for i, name in enumerate(order)}
    return tuple(sorted(messages, key=lambda m: rank.get(m.report, len(rank))))


def _unblock(
    ready: dict[str, ReadyReport], failed: dict[str, ReportcError], allow: bool
) -> dict[str, str]:
    """Move reports blocked by a failed check to ``failed``, unless overridden."""
    overrides: dict[str, str] = {}
    for name, item in list(ready.items()):
        if item.blocked and not allow:
            del ready[name]
            failed[name] = DeliveryError(
                [Problem(f"blocked by a failed check: {why}") for why in item.blocked]
            )
        elif item.blocked:
            overrides[name] = "failed checks overridden: " + "; ".join(item.blocked)
    return overrides


def _audit_suppressed(
    project: Project, suppressed: Mapping[str, str], allow: bool, redirect_to: str | None
) -> str:
    """Stop before anything is sent when the audit copy would be dropped silently."""
    gone = [a for a in project.delivery.audit_bcc if address_key(a) in suppressed]
    if not gone or redirect_to:
        return ""
    if allow:
        return "audit copy suppressed, sent without it: " + ", ".join(mask(a) for a in gone)
    raise DeliveryError(
        [
            Problem(
                f"the audit copy address {mask(a)} is suppressed "
                f"({suppressed[address_key(a)]}); every report would go without it",
                hint="fix the audit mailbox, then 'reportc events unsuppress ADDRESS'; or "
                "send without the audit copy with --allow-suppressed-audit (recorded in "
                "the ledger)",
            )
            for a in gone
        ]
        + [Problem("nothing was sent")]
    )


@dataclass(frozen=True)
class _Plan:
    """Everything decided before the ledger is read; packaging reads the ledger."""

    project: Project
    ready: Mapping[str, ReadyReport]
    failed: Mapping[str, ReportcError]
    held: Mapping[str, str]
    run_id: str
    when: dt.datetime
    redirect_to: str | None
    suppressed: Mapping[str, str]
    resend: bool
    resend_uncertain: bool

    def package(self, ledger: Ledger | None) -> Packaged:
        prior: dict[str, Prior] = {}
        if not self.resend:
            for name, item in self.ready.items():
                seen = prior_of(
                    ledger, name, hashlib.sha256(item.pdf).hexdigest(), self.redirect_to or ""
                )
                prior[name] = Prior(seen.delivered) if self.resend_uncertain else seen
        return package(
            self.project,
            self.ready,
            run_id=self.run_id,
            when=self.when,
            redirect_to=self.redirect_to,
            suppressed=self.suppressed,
            prior=prior,
        )

    def others(self, packed: Packaged) -> tuple[MessageResult, ...]:
        """Results for what is not a message: not built, not composable, held, uncertain."""
        out = [
            MessageResult(
                report=name,
                state="failed",
                detail=("" if isinstance(exc, DeliveryError) else "not built: ")
                + "; ".join(p.format() for p in exc.problems),
            )
            for name, exc in {**self.failed, **packed.failed}.items()
        ]
        out += [
            MessageResult(report=name, state="skipped", detail=why)
            for name, why in {**self.held, **packed.held}.items()
        ]
        out += [
            MessageResult(report=name, state="uncertain", detail=why)
            for name, why in packed.uncertain.items()
        ]
        return tuple(out)


def _deliver(
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
    results: dict[str, MessageResult] = {}
    overrides = overrides or {}
    values = values or {}
    todo: list[Envelope] = []
    for env in envelopes:
        row = ledger.get(env.key)
        if row is not None and row.state == "sent" and not resend:
            results[env.key] = _result(
                env, "skipped", f"already sent {row.updated_at}", row.message_id
            )
        elif row is not None and row.state == "sending" and not resend:
            results[env.key] = _result(
                env,
                "uncertain",
                f"a previous run stopped while sending this message ({row.updated_at}); it may "
                "have been delivered — check, then use --resend-uncertain to send it again",
            )
        elif env.size > transport.max_message_bytes:
            ledger.plan(env, period=project.period.label, run_id=run_id, transport=transport.name)
            reason = (
                f"message is {env.size:,} bytes encoded; {transport.name} accepts at most "
                f"{transport.max_message_bytes:,}"
            )
            ledger.mark(env.key, run_id, "failed", error=reason)
            results[env.key] = _result(env, "failed", reason)
        else:
            todo.append(env)
    if limit is not None:
        for env in todo[limit:]:
            results[env.key] = _result(env, "not-sent", f"--limit {limit}")
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
        for n, env in enumerate(todo):
            override = "; ".join(
                part
                for part in (
                    f"redirected to {env.redirected_to}" if env.redirected_to else "",
                    "resend" if resend and ledger.get(env.key) else "",
                    overrides.get(env.report, ""),
                )
                if part
            )
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
            if outcome.state == "not-sent":
                stopped = outcome.detail
                for later in todo[n + 1 :]:
                    results[later.key] = _result(later, "not-sent", stopped)
                break
    ordered = tuple(results[e.key] for e in envelopes)
    return SendResult(run_id, transport.name, ordered, tuple(notes), stopped)


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
    last = ""
    for attempt in range(policy.max_attempts):
        limiter.acquire(len(env.recipients))
        ledger.mark(env.key, run_id, "sending")
        try:
            message_id = transport.send(env)
        except SendFailure as failure:
            limiter.done(len(env.recipients))
            last = failure.message
            if failure.kind == "retry" and attempt + 1 < policy.max_attempts:
                ledger.mark(env.key, run_id, "pending", error=f"retrying: {last}")
                delay = policy.delay(attempt, rng)
                if progress:
                    progress("waiting", env.report, f"{last}; retry in {delay:.1f}s")
                sleep(delay)
                continue
            if failure.kind == "uncertain":
                ledger.note(env.key, run_id, f"uncertain: {last}")
                if progress:
                    progress("uncertain", env.report, last)
                return _result(
                    env,
                    "uncertain",
                    f"{last}; it may have been delivered — check, then use --resend-uncertain",
                )
            if failure.kind in ("quota", "abort"):
                ledger.mark(env.key, run_id, "pending", error=last)
                what = (
                    "daily sending quota reached"
                    if failure.kind == "quota"
                    else "the provider refused to continue"
                )
                reason = (
                    f"{what} ({last}); run 'reportc send' again later to send the rest — "
                    "what was sent will not be sent twice"
                )
                if progress:
                    progress("failed", env.report, reason)
                return _result(env, "not-sent", reason)
            if failure.kind == "retry":  # no attempt left
                last = f"gave up after {policy.max_attempts} attempts: {last}"
            ledger.mark(env.key, run_id, "failed", error=last)
            if progress:
                progress("failed", env.report, last)
            return _result(env, "failed", last)
        limiter.done(len(env.recipients))
        ledger.mark(env.key, run_id, "sent", message_id=message_id)
        if progress:
            progress("sent", env.report, message_id)
        return _result(env, "sent", message_id=message_id)
    return _result(env, "not-sent", "max_attempts is 0: nothing was tried")
