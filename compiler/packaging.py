"""Packaging: each ready report as one MIME message per its recipients, minus those the
ledger says already have this PDF (:class:`Prior`), those suppressed, and with the
audit BCC; problems (bad addresses, an attachment too big) are collected, not raised."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

from .addresses import address_key, mask
from .config.model import Project, ReportSpec
from .delivery import (
    Ledger,
)
from .errors import DeliveryError, Location, Problem, did_you_mean, format_path
from .forked import map_halves
from .formatting import TONE_COLOURS
from .links import LinkPolicy, link_policy
from .mime import Attachment, Envelope, compose, rows_to_csv
from .ready import ReadyReport
from .render import make_environment, template_location
from .states import LedgerState


def file_stem(project: Project, spec: ReportSpec) -> str:
    """What a report's files are called where people see them: '<org> <title> <period>'
    (the email's attachments, the links, a Slack upload)."""
    return _safe_filename(f"{project.organisation} {spec.title} {project.period.title}")


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
        target = delivered if row.state is LedgerState.SENT else uncertain
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
    links: LinkPolicy | None = None,
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
    jobs: list[tuple[str, list[list[str]]]] = []
    for name, item in ready.items():
        fresh = _fresh(project, name, item, out, redirect_to, suppressed, prior)
        if fresh is not None:
            jobs.append((name, fresh))
    composer = _Composer(project, env, run_id, when, redirect_to, links or LinkPolicy())

    def one(job: tuple[str, list[list[str]]]) -> Envelope:
        return composer.one(ready[job[0]], job[1])

    # composing is pure unless it uploads links: then one process does it all
    made = map_halves(one, jobs, fork=composer.links.mode == "attach")
    for (name, _), result in zip(jobs, made, strict=True):
        if isinstance(result, DeliveryError):
            out.failed[name] = result
        elif isinstance(result, Exception):
            raise result
        else:
            out.envelopes[name] = result
    return out


def _fresh(
    project: Project,
    name: str,
    item: ReadyReport,
    out: Packaged,
    redirect_to: str | None,
    suppressed: Mapping[str, str] | None,
    prior: Mapping[str, Prior] | None,
) -> list[list[str]] | None:
    """Who this report's message goes to (to, cc, bcc), or None: every recipient is
    suppressed, or already has this PDF (``out`` records why: held or uncertain)."""
    groups = list(_recipients(project, item, redirect_to))
    if suppressed and not redirect_to:
        kept = _without(groups, suppressed)
        if not kept[0] and not kept[1]:
            out.held[name] = "every recipient is suppressed (bounced or complained): " + (
                ", ".join(mask(a) for a in (*groups[0], *groups[1]))
            )
            return None
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
        return None
    return fresh


@dataclass(frozen=True)
class _Composer:
    """What every message of one run is composed with."""

    project: Project
    env: jinja2.Environment
    run_id: str
    when: dt.datetime
    redirect_to: str | None
    links: LinkPolicy = field(default_factory=LinkPolicy)

    def one(self, item: ReadyReport, groups: Sequence[list[str]]) -> Envelope:
        """The report's message: its files attached, or (``links``) some as links."""
        name, links = item.spec.name, self.links
        context = _email_context(self.project, item)
        subject = _subject(self.project, self.env, item, context)
        if self.redirect_to:
            subject = f"[TEST for {name}] {subject}"
        attachments = _attachments(item, context)
        if links.mode != "link":
            message = self.message(item, groups, subject, context, attachments)
            if links.mode == "attach" or links.limit is None or message.size <= links.limit:
                return message
        if links.linker is None:
            raise DeliveryError(Problem(f"report '{name}': links need an S3 archive location"))
        big = [a for a in attachments if a.subtype in ("pdf", XLSX_SUBTYPE)]
        period = self.project.period.label
        made = [links.linker.link(name, period, a.filename, a.content, a.sha256) for a in big]
        rest = [a for a in attachments if a not in big]
        context = {
            **context,
            "links": made,
            "attached": [a.filename for a in rest],
            "too_large": links.mode == "auto",
        }
        linked = tuple(link.recorded for link in made)
        return self.message(item, groups, subject, context, rest, linked, attachments[0].sha256)

    def message(
        self,
        item: ReadyReport,
        groups: Sequence[list[str]],
        subject: str,
        context: Mapping[str, Any],
        attachments: Sequence[Attachment],
        linked: tuple[str, ...] = (),
        pdf_sha256: str = "",
    ) -> Envelope:
        """The bodies rendered from ``context``, composed with these attachments."""
        delivery, name = self.project.delivery, item.spec.name
        bodies = {}
        for template in ("email.html.j2", "email.txt.j2"):
            try:
                bodies[template] = self.env.get_template(template).render(context)
            except jinja2.TemplateError as exc:
                where = template_location(exc, self.project.root) or Location(template)
                message = f"email body ({template}): {_jinja_message(exc, context)}"
                raise DeliveryError(Problem(message, where, hint=_TEMPLATE_HINT)) from None
        return compose(
            report=name,
            sender=delivery.sender,
            to=groups[0],
            cc=groups[1],
            bcc=groups[2],
            reply_to=delivery.reply_to,
            subject=subject,
            text=bodies["email.txt.j2"],
            html=bodies["email.html.j2"],
            attachments=attachments,
            run_id=self.run_id,
            when=self.when,
            list_unsubscribe=delivery.list_unsubscribe,
            redirected_to=self.redirect_to or "",
            tags={"persona": name, "run": self.run_id.replace(":", "-")},
            pdf_sha256=pdf_sha256 if linked else attachments[0].sha256,
            links=linked,
        )


def _attachments(item: ReadyReport, context: Mapping[str, Any]) -> list[Attachment]:
    """The PDF, then the persona's extra attachments (CSV rows, the workbook)."""
    attachments = [Attachment(context["attachment_name"], item.pdf)]
    for att, filename in zip(item.spec.attachments, context["extra_attachments"], strict=True):
        if att.format == "xlsx":
            attachments.append(Attachment(filename, item.xlsx, "application", XLSX_SUBTYPE))
            continue
        data = item.csv.get(att.section, rows_to_csv((), ()))
        attachments.append(Attachment(filename, data, "text", "csv"))
    return attachments


XLSX_SUBTYPE = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TEMPLATE_HINT = "the names an email template can use: report, org, period, summary, theme"


def subject_key(project: Project, spec: ReportSpec) -> tuple[str | int, ...]:
    """Where a report's subject template is declared: its persona's, or delivery's."""
    persona = spec.persona or spec.name
    if spec.subject:  # a burst row's spec has its persona's
        return ("personas", persona, "subject")
    return ("delivery", "subject")


@functools.lru_cache(maxsize=64)
def _subject_template(env: jinja2.Environment, source: str) -> jinja2.Template:
    """A subject template, compiled once per environment (every message of a run shares
    its persona's or delivery's)."""
    return env.overlay(autoescape=False).from_string(source)


def _subject(
    project: Project, env: jinja2.Environment, item: ReadyReport, context: Mapping[str, Any]
) -> str:
    """The rendered subject: one line; a template error or a line break is a problem at
    the YAML key that declares it."""
    key = subject_key(project, item.spec)
    where, shown = project.positions.at(key), format_path(key)
    try:
        text = _subject_template(env, item.spec.subject or project.delivery.subject).render(context)
    except jinja2.TemplateError as exc:
        message = f"email subject: {_jinja_message(exc, context)}"
        raise DeliveryError(Problem(message, where, shown, _TEMPLATE_HINT)) from None
    if "\n" in text.strip() or "\r" in text.strip():
        raise DeliveryError(
            Problem(
                f"report '{item.spec.name}': the subject contains a line break: "
                f"{text.strip()[:120]!r}",
                where,
                shown,
                "keep the subject on one line; a value in it must not contain line breaks",
            )
        )
    return " ".join(text.split())


def _jinja_message(exc: jinja2.TemplateError, context: Mapping[str, Any]) -> str:
    """The error, with the closest name the context has for a misspelt one."""
    message = str(exc.message or exc)
    missing = re.search(r"has no attribute '([^']+)'|'([^']+)' is undefined", message)
    if missing is None:
        return message
    name = missing.group(1) or missing.group(2)
    names = set(context)
    for value in context.values():
        if isinstance(value, Mapping):
            names |= {str(k) for k in value}
    return message + did_you_mean(name, sorted(names))


def _email_context(project: Project, item: ReadyReport) -> dict[str, Any]:
    spec = item.spec
    period = project.period
    stem = file_stem(project, spec)
    name = stem + ".pdf"
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
        "links": [],
        "attached": [],
        "too_large": False,
        "extra_attachments": [
            a.filename
            or (f"{stem}.xlsx" if a.format == "xlsx" else f"{_safe_filename(a.section)}.csv")
            for a in spec.attachments
        ],
    }


#: what ``validate`` composes with when a project has no ``delivery.from`` yet
STAND_IN_SENDER = "reportc@example.com"


def email_problems(
    project: Project, env: jinja2.Environment, item: ReadyReport, when: dt.datetime
) -> list[Problem]:
    """Compose the report's message as ``send`` would (subject, headers, bodies,
    attachments) and say what stops it; nothing is sent."""
    if not project.delivery.sender:
        project = dataclasses.replace(
            project, delivery=dataclasses.replace(project.delivery, sender=STAND_IN_SENDER)
        )
    groups = list(_recipients(project, item, None))
    if not any(groups):
        return []
    try:
        links = link_policy(project, when, upload=False)
        _Composer(project, env, "validate", when, None, links).one(item, groups)
    except DeliveryError as exc:
        return list(exc.problems)
    return []
