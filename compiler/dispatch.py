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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from .addresses import address_key, address_problem, mask
from .bound import BoundReport
from .config.model import Project, Recipients, ReportSpec
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
from .errors import ConfigError, DeliveryError, Location, Problem, ReportcError, did_you_mean
from .formatting import TONE_COLOURS
from .manifest import ReportEntry
from .mime import Attachment, Envelope, compose, rows_to_csv
from .pipeline import attachment_csvs, build
from .plan import (
    FORMATS,
    Clock,
    choose_reports,
    default_clock,
    merged_manifest,
    output_dir,
    project_baselines,
    report_inputs,
    up_to_date,
    utc_now,
)
from .render import RenderedReport, make_environment
from .snapshot import snapshot, values_digest

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


@dataclass(frozen=True)
class ReadyReport:
    """A built report, ready to be packaged."""

    spec: ReportSpec
    rendered: RenderedReport
    pdf: bytes
    #: the CSV attachments by section name
    csv: Mapping[str, bytes] = field(default_factory=dict)
    blocked: tuple[str, ...] = ()
    alerts: tuple[Any, ...] = ()
    values_sha256: str = ""

    @classmethod
    def of(cls, report: BoundReport, rendered: RenderedReport, pdf: bytes) -> ReadyReport:
        """Everything packaging needs, from the bound report, its HTML and its PDF."""
        return cls(
            report.spec,
            rendered,
            pdf,
            attachment_csvs(report),
            report.blocked,
            report.alerts,
            values_digest(snapshot(report)),
        )


# --------------------------------------------------------------------------- build


def _pdf_if_current(out: Path, entry: ReportEntry | None) -> bytes | None:
    pdf = entry.files.get("pdf") if entry is not None else None
    if pdf is None:
        return None
    path = out / pdf.path
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if hashlib.sha256(data).hexdigest() == pdf.sha256 else None


def prepare_reports(
    project: Project, names: Sequence[str], out: Path, clock: Clock
) -> tuple[dict[str, ReadyReport], dict[str, ReportcError], Mapping[str, str]]:
    """Package from what the build made; build first what is not up to date.

    A persona whose inputs fingerprint matches the manifest (and whose files are
    intact) is packaged from the manifest and ``out`` alone: no data is loaded and
    nothing is rendered. The others are built once (like ``reportc build``), then
    packaged the same way. Returns the ready reports, the failed ones, and each
    report's persona, in the project's order.
    """
    now = clock()
    inputs = report_inputs(project, names, FORMATS, now, project_baselines(project, names))
    entries = merged_manifest(out)
    ready, stale = _from_build(project, names, out, inputs, entries)
    failed: dict[str, ReportcError] = {}
    if stale:
        result = build(project, reports=stale, out_dir=out, clock=lambda: now)
        failed = {r.name: r.error for r in result.reports if r.error is not None}
        entries = merged_manifest(out)
        again, _still = _from_build(project, stale, out, inputs, entries, partial=True)
        ready.update(again)
    personas = {n: e.persona or n for n, e in entries.items()}
    order = [n for p in names for n in personas if personas[n] == p]
    return (
        {n: ready[n] for n in order if n in ready},
        failed,
        {n: personas[n] for n in order if n in ready or n in failed},
    )


def _from_build(
    project: Project,
    names: Sequence[str],
    out: Path,
    inputs: Mapping[str, str],
    entries: Mapping[str, ReportEntry],
    *,
    partial: bool = False,
) -> tuple[dict[str, ReadyReport], list[str]]:
    """The reports ``out`` holds up to date, and the personas that are not.

    ``partial`` (right after building them): a persona's reports that built are ready
    even if some of its rows failed (those are reported as failed by the build)."""
    ready: dict[str, ReadyReport] = {}
    stale: list[str] = []
    for persona in names:
        got = up_to_date(out, entries, persona, inputs[persona], blocked_too=True, partial=partial)
        items = [_ready_from(project, persona, n, entries[n], out) for n in got]
        if not got or any(item is None for item in items):
            stale.append(persona)
            continue
        ready.update((n, item) for n, item in zip(got, items, strict=True) if item is not None)
    return ready, stale


def _ready_from(
    project: Project, persona: str, name: str, entry: ReportEntry, out: Path
) -> ReadyReport | None:
    """A report ready to package from its manifest entry and files (None: rebuild it)."""
    email = entry.email
    pdf = _pdf_if_current(out, entry)
    if email is None or pdf is None or entry.period != project.period.label:
        return None
    spec = project.reports[persona]
    if name != persona:  # a burst row: its title and recipients came from its row
        recipients = email.get("recipients", {})
        spec = dataclasses.replace(
            spec,
            name=name,
            title=str(email.get("title", spec.title)),
            subtitle=str(email.get("subtitle", "")),
            recipients=Recipients(
                tuple(recipients.get("to", ())),
                tuple(recipients.get("cc", ())),
                tuple(recipients.get("bcc", ())),
            ),
            persona=persona,
        )
    csv: dict[str, bytes] = {}
    for kind, record in entry.files.items():
        if kind.startswith("csv:"):
            path = out / record.path
            data = path.read_bytes() if path.is_file() else b""
            if hashlib.sha256(data).hexdigest() != record.sha256:
                return None
            csv[kind[4:]] = data
    rendered = RenderedReport(
        name, spec.title, "", str(email.get("lang", "")), summary=email.get("summary", {})
    )
    alerts = tuple(spec.alerts[i] for i in email.get("alerts", ()) if i < len(spec.alerts))
    return ReadyReport(spec, rendered, pdf, csv, entry.checks, alerts, entry.values_sha256)


# --------------------------------------------------------------------------- package


def _safe_filename(text: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in " -_.,()–—'" else "-" for ch in text)
    return " ".join(keep.split())[:150] or "report"


@dataclass(frozen=True)
class Prior:
    """Who already has this very PDF of a report (from the ledger), by address.

    ``delivered``: a message naming the address was sent; ``uncertain``: a run
    stopped while sending one (it may have arrived). Values are when.
    """

    delivered: Mapping[str, str] = field(default_factory=dict)
    uncertain: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Packaged:
    """What packaging made of the ready reports: messages, and why the rest are not."""

    envelopes: dict[str, Envelope] = field(default_factory=dict)
    failed: dict[str, DeliveryError] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)
    uncertain: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> list[Problem]:
        return [p for exc in self.failed.values() for p in exc.problems]


def prior_of(ledger: Ledger | None, report: str, pdf_sha256: str, redirected_to: str) -> Prior:
    """Who already has (or may have) this PDF of ``report``, per the ledger."""
    if ledger is None:
        return Prior()
    delivered: dict[str, str] = {}
    uncertain: dict[str, str] = {}
    for row in ledger.copies(report, pdf_sha256, redirected_to):
        target = delivered if row.state == "sent" else uncertain
        for addr in row.recipients:
            target.setdefault(addr, row.updated_at)
    return Prior(delivered, {a: w for a, w in uncertain.items() if a not in delivered})


def _recipients(
    project: Project, item: ReadyReport, redirect_to: str | None
) -> tuple[list[str], list[str], list[str]]:
    spec = item.spec
    to, cc = list(spec.recipients.to), list(spec.recipients.cc)
    for alert in item.alerts:  # alert-only recipients, when the rule fires
        to = list(dict.fromkeys([*to, *alert.to]))
        cc = list(dict.fromkeys([*cc, *alert.cc]))
    bcc = list(dict.fromkeys([*spec.recipients.bcc, *project.delivery.audit_bcc]))
    if redirect_to:
        return [redirect_to], [], []
    return to, cc, bcc


def _without(groups: Sequence[list[str]], drop: Mapping[str, str]) -> list[list[str]]:
    return [[a for a in group if address_key(a) not in drop] for group in groups]


def package(
    project: Project,
    ready: Mapping[str, ReadyReport],
    *,
    run_id: str,
    when: dt.datetime,
    redirect_to: str | None = None,
    suppressed: Mapping[str, str] | None = None,
    prior: Mapping[str, Prior] | None = None,
) -> Packaged:
    """Compose one message per report; a report that cannot be composed fails alone.

    Addresses in ``suppressed`` are left out, and so are those that ``prior`` says
    already have this PDF: a message goes only to who does not have it yet.
    """
    out = Packaged()
    if not project.delivery.sender:
        raise DeliveryError(
            Problem(
                "delivery.from is not set",
                hint="declare the verified sender under delivery: in reports.yaml",
            )
        )
    env = make_environment(project.root)
    for name, item in ready.items():
        groups = list(_recipients(project, item, redirect_to))
        if suppressed and not redirect_to:
            kept = _without(groups, suppressed)
            if not kept[0] and not kept[1]:
                out.held[name] = "every recipient is suppressed (bounced or complained): " + (
                    ", ".join(mask(a) for a in (*groups[0], *groups[1]))
                )
                continue
            groups = kept
        seen = (prior or {}).get(name, Prior())
        if seen.uncertain:
            out.uncertain[name] = (
                f"a previous run stopped while sending this report to "
                f"{len(seen.uncertain)} recipient(s) ({max(seen.uncertain.values())}); it may "
                "have been delivered — check, then use --resend-uncertain to send it again"
            )
        fresh = _without(groups, {**seen.delivered, **seen.uncertain})
        if not any(fresh):
            if not seen.uncertain:
                out.held[name] = f"already sent {max(seen.delivered.values(), default='')}"
            continue
        try:
            out.envelopes[name] = _compose_one(
                project, env, item, fresh, run_id=run_id, when=when, redirect_to=redirect_to
            )
        except DeliveryError as exc:
            out.failed[name] = exc
    return out


def _compose_one(
    project: Project,
    env: jinja2.Environment,
    item: ReadyReport,
    groups: Sequence[list[str]],
    *,
    run_id: str,
    when: dt.datetime,
    redirect_to: str | None,
) -> Envelope:
    spec, delivery = item.spec, project.delivery
    name = spec.name
    context = _email_context(project, item)
    try:
        subject = env.overlay(autoescape=False).from_string(spec.subject or delivery.subject)
        subject_text = subject.render(context)
        subject_text = (
            " ".join(subject_text.split()) if "\n" not in subject_text.strip() else subject_text
        )
        html = env.get_template("email.html.j2").render(context)
        text = env.get_template("email.txt.j2").render(context)
    except jinja2.TemplateError as exc:
        raise DeliveryError(Problem(f"report '{name}': email template: {exc}")) from None
    if redirect_to:
        subject_text = f"[TEST for {name}] {subject_text}"
    attachments = [Attachment(context["attachment_name"], item.pdf)]
    for att in spec.attachments:
        filename = att.filename or f"{_safe_filename(att.section)}.csv"
        data = item.csv.get(att.section, rows_to_csv((), ()))
        attachments.append(Attachment(filename, data, "text", "csv"))
    return compose(
        report=name,
        sender=delivery.sender,
        to=groups[0],
        cc=groups[1],
        bcc=groups[2],
        reply_to=delivery.reply_to,
        subject=subject_text,
        text=text,
        html=html,
        attachments=attachments,
        run_id=run_id,
        when=when,
        list_unsubscribe=delivery.list_unsubscribe,
        redirected_to=redirect_to or "",
        tags={"persona": name, "run": run_id.replace(":", "-")},
    )


def _email_context(project: Project, item: ReadyReport) -> dict[str, Any]:
    spec = item.spec
    period = project.period
    name = _safe_filename(f"{project.organisation} {spec.title} {period.title}") + ".pdf"
    return {
        "report": {"name": spec.name, "title": spec.title, "subtitle": spec.subtitle},
        "org": {"name": project.organisation},
        "period": {
            "label": period.label,
            "title": period.title,
            "start": period.start,
            "end": period.end,
        },
        "summary": item.rendered.summary,
        "theme": spec.theme,
        "tones": TONE_COLOURS,
        "lang": item.rendered.lang,
        "attachment_name": name,
        "extra_attachments": [a.filename or f"{a.section}.csv" for a in spec.attachments],
    }


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


def select_reports(project: Project, names: Sequence[str] | None) -> tuple[list[str], set[str]]:
    """Personas to prepare, and the burst instances asked for by name (empty: all).

    ``--persona territory-T005`` names one row's report of a burst persona: its
    persona is prepared and only that instance is sent.
    """
    if not names:
        return choose_reports(project, None), set()
    bursts = [n for n, r in project.reports.items() if r.for_each is not None]
    personas: list[str] = []
    instances: set[str] = set()
    for name in names:
        if name in project.reports:
            personas.append(name)
            continue
        owners = [p for p in bursts if name.startswith(p + "-")] or [
            p for p in bursts if project.reports[p].filename
        ]
        if not owners:
            personas.append(name)  # unknown: choose_reports says so, with a suggestion
            continue
        personas.extend(owners)
        instances.add(name)
    return choose_reports(project, list(dict.fromkeys(personas))), instances


def _partial(names: Sequence[str] | None, instances: set[str], project: Project) -> set[str]:
    """Burst personas chosen only through some of their rows' report names."""
    if not instances:
        return set()
    named = set(names or ())
    return {p for p, r in project.reports.items() if r.for_each is not None and p not in named}


def _only_instances(
    ready: dict[str, ReadyReport],
    failed: dict[str, ReportcError],
    persona_of: Mapping[str, str],
    instances: set[str],
    partial: set[str],
) -> None:
    """Keep, of the personas chosen for some of their rows, only those rows' reports."""
    if not instances:
        return
    known = {n for n in (*ready, *failed) if persona_of.get(n, n) in partial}
    missing = sorted(instances - known)
    if missing:
        raise ConfigError(
            [
                Problem(
                    f"no report '{m}'{did_you_mean(m, known)}",
                    Location("--persona"),
                    hint="a burst report is named by its persona's filename template "
                    "(default <persona>-<key>); 'reportc build' lists them",
                )
                for m in missing
            ]
        )
    for group in (ready, failed):
        for name in list(group):
            persona = persona_of.get(name, name)
            if persona in partial and name != persona and name not in instances:
                del group[name]


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
    _only_instances(ready, failed, persona_of, instances, _partial(reports, instances, project))
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
