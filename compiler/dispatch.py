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
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .addresses import address_key, address_problem, mask
from .channels import channel_envelopes
from .chat import SlackTransport, WebhookTransport
from .config.model import Project
from .deliver import (
    BLOCKED_BY_CHECK,
    MessageResult,
    SendProgress,
    SendResult,
    deliver_envelopes,
    message_result,
)
from .delivery import (
    Ledger,
    OutboxTransport,
    Transport,
    existing_ledger,
    open_ledger,
    project_lock,
    registry,
)
from .errors import DeliveryError, Problem, ReportcError
from .links import LinkPolicy, link_policy
from .logs import new_run_id
from .mime import Envelope
from .packaging import Packaged, Prior, package, prior_of
from .plan import (
    Clock,
    default_clock,
    output_dir,
    utc_now,
)
from .ready import ReadyReport, only_instances, partial_selection, prepare_reports, select_reports
from .states import MessageState

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
            # The very PDF already sent is the ledger's business ("already sent").
            if (
                last is not None
                and last.pdf_sha256 != ready[name].pdf_sha256
                and last.values_sha256 == ready[name].values_sha256
            ):
                held[name] = (
                    f"figures unchanged since it was sent {last.updated_at} (send_if: changed; "
                    "--resend sends anyway)"
                )
    return held


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
    run_id: str | None = None,
    channel_transports: Mapping[str, Transport] | None = None,
) -> SendResult:
    """Deliver the chosen reports, each at most once to each recipient and channel.

    ``run_id`` names the run in the ledger (default: a new one from the clock; the CLI
    passes its log's); ``channel_transports`` replaces the Slack or webhook transport."""
    plan = _plan(
        project,
        reports,
        output_dir(project, out_dir),
        (clock or utc_now)(),
        clock or default_clock(project),
        redirect_to=redirect_to,
        resend=resend,
        resend_uncertain=resend_uncertain,
        include_suppressed=include_suppressed,
        allow_failed_checks=allow_failed_checks,
        allow_suppressed_audit=allow_suppressed_audit,
        run_id=run_id,
    )
    if dry_run:
        return _dry_run(project, plan, outbox)
    transport = transport or make_transport(project, transport_name, outbox)
    chats = _chat_transports(project, channel_transports)
    return _send_planned(
        project,
        plan,
        transport,
        chats,
        clock or utc_now,
        limit=limit,
        resend=resend or resend_uncertain,
        monotonic=monotonic,
        sleep=sleep,
        rng=rng or random.Random(),
        progress=progress,
    )


def _send_planned(
    project: Project,
    plan: _Plan,
    transport: Transport,
    chats: Mapping[str, Transport],
    clock: Clock,
    *,
    limit: int | None,
    resend: bool,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    rng: random.Random,
    progress: SendProgress | None,
) -> SendResult:
    """Under the project's send lock: package against the ledger, then deliver."""
    with project_lock(project):
        ledger = open_ledger(project, clock)
        links = link_policy(project, plan.when, upload=True, limit=transport.max_message_bytes)
        try:
            packed = plan.package(ledger, links)
            channels, unposted = channel_envelopes(
                project, plan.ready, linker=links.linker, redirected=bool(plan.redirect_to)
            )
            batches: list[tuple[Sequence[Envelope], Transport]] = [
                (list(packed.envelopes.values()), transport)
            ]
            batches += [([c for c in channels if c.kind == k], t) for k, t in chats.items()]
            results: list[SendResult] = []
            values = {n: item.values_sha256 for n, item in plan.ready.items()}
            for envelopes, via in batches:
                if not envelopes and results:
                    continue
                results.append(
                    deliver_envelopes(
                        project,
                        envelopes,
                        via,
                        ledger,
                        run_id=plan.run_id,
                        limit=limit,
                        resend=resend,
                        monotonic=monotonic,
                        sleep=sleep,
                        rng=rng,
                        progress=progress,
                        overrides=plan.overrides,
                        values=values,
                    )
                )
            others = plan.others(packed) + _unlinked(unposted)
            return _merged(results, others, plan.persona_of)
        finally:
            ledger.close()
            transport.close()


def _unlinked(unposted: Mapping[str, DeliveryError]) -> tuple[MessageResult, ...]:
    """The webhooks that could not go because their link could not be made."""
    return tuple(
        MessageResult(
            report=name,
            state=MessageState.FAILED,
            detail="; ".join(p.format() for p in exc.problems),
            channel="webhook",
        )
        for name, exc in unposted.items()
    )


def _chat_transports(
    project: Project, given: Mapping[str, Transport] | None
) -> dict[str, Transport]:
    """The Slack and webhook transports (those ``given`` replace the built-in ones)."""
    chats: dict[str, Transport] = {
        "slack": SlackTransport(project.env, project.delivery.slack_api_url),
        "webhook": WebhookTransport(),
    }
    return {**chats, **(given or {})}


def _merged(
    results: Sequence[SendResult], others: tuple[MessageResult, ...], order: Mapping[str, str]
) -> SendResult:
    """The email run's result with the channels' messages (and their notes) added."""
    first = results[0]
    messages = tuple(m for r in results for m in r.messages) + others
    notes = tuple(dict.fromkeys(n for r in results for n in r.notes))
    stopped = next((r.stopped for r in results if r.stopped), "")
    return dataclasses.replace(
        first, messages=_in_order(messages, order), notes=notes, stopped=stopped
    )


def _plan(
    project: Project,
    reports: Sequence[str] | None,
    out: Path,
    now: dt.datetime,
    clock: Clock,
    *,
    redirect_to: str | None,
    resend: bool,
    resend_uncertain: bool,
    include_suppressed: bool,
    allow_failed_checks: bool,
    allow_suppressed_audit: bool,
    run_id: str | None,
) -> _Plan:
    """Everything decided before the ledger is read: what is ready, failed, blocked,
    held back by ``send_if``, suppressed, and what overrides are recorded."""
    if redirect_to and (problem := address_problem(redirect_to)):
        raise DeliveryError(Problem(f"--redirect-to: {problem}"))
    chosen, instances = select_reports(project, reports)
    chosen = [n for n in chosen if project.personas[n].send]
    ready, failed, persona_of = prepare_reports(project, chosen, out, clock)
    partial = partial_selection(reports, instances, project)
    only_instances(ready, failed, persona_of, instances, partial)
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
    return _Plan(
        project,
        ready,
        failed,
        held,
        run_id or new_run_id(now),
        now,
        redirect_to,
        suppressed,
        resend,
        resend_uncertain,
        overrides,
        persona_of,
    )


def _dry_run(project: Project, plan: _Plan, outbox: Path | str | None) -> SendResult:
    """Every message written to the outbox folder; nothing contacted, nothing recorded."""
    links = link_policy(project, plan.when, upload=False)
    with existing_ledger(project) as ledger:
        packed = plan.package(ledger, links)
    channels, _ = channel_envelopes(
        project, plan.ready, linker=links.linker, redirected=bool(plan.redirect_to)
    )
    folder = Path(outbox) if outbox else project.root / project.delivery.outbox
    box = OutboxTransport(folder if folder.is_absolute() else project.root / folder)
    results = tuple(
        message_result(e, MessageState.DRY_RUN, path=box.send(e))
        for e in [*packed.envelopes.values(), *channels]
    )
    return SendResult(
        plan.run_id,
        "dry-run",
        _in_order(results + plan.others(packed), plan.persona_of),
        dry_run=True,
        outbox=box.folder,
    )


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
                [Problem(f"{BLOCKED_BY_CHECK}: {why}") for why in item.blocked]
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
    #: why each report goes out although a check or suppression would stop it
    overrides: Mapping[str, str] = field(default_factory=dict)
    #: report name -> the persona it comes from
    persona_of: Mapping[str, str] = field(default_factory=dict)

    def package(self, ledger: Ledger | None, links: LinkPolicy | None = None) -> Packaged:
        prior: dict[str, Prior] = {}
        if not self.resend:
            for name, item in self.ready.items():
                seen = prior_of(ledger, name, item.pdf_sha256, self.redirect_to or "")
                prior[name] = Prior(seen.delivered) if self.resend_uncertain else seen
        return package(
            self.project,
            self.ready,
            run_id=self.run_id,
            when=self.when,
            redirect_to=self.redirect_to,
            suppressed=self.suppressed,
            prior=prior,
            links=links,
        )

    def others(self, packed: Packaged) -> tuple[MessageResult, ...]:
        """Results for what is not a message: not built, not composable, held, uncertain."""
        out = [
            MessageResult(
                report=name,
                state=MessageState.FAILED,
                detail=("" if isinstance(exc, DeliveryError) else "not built: ")
                + "; ".join(p.format() for p in exc.problems),
            )
            for name, exc in {**self.failed, **packed.failed}.items()
        ]
        out += [
            MessageResult(report=name, state=MessageState.SKIPPED, detail=why)
            for name, why in {**self.held, **packed.held}.items()
        ]
        out += [
            MessageResult(report=name, state=MessageState.UNCERTAIN, detail=why)
            for name, why in packed.uncertain.items()
        ]
        return tuple(out)
