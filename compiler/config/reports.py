"""Checking the reports (personas) of a project file and turning them into
:class:`ReportSpec`s, with the delivery, archive, database and schedule settings
they depend on."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import expr as expr_lang
from ..addresses import address_problem
from ..cron import schedule_problem
from ..errors import did_you_mean
from .checks import Checker, check_file, check_row_feed, check_section_options, section_refs
from .model import (
    DEFAULT_FORMATS,
    LEDGER_SCHEMES,
    AlertSpec,
    ArchiveSpec,
    AttachmentSpec,
    Cover,
    DatabaseSpec,
    Delivery,
    ForEach,
    MetricSpec,
    NotifySpec,
    Recipients,
    ReportSpec,
    ScheduleSpec,
    SectionSpec,
    SlackSpec,
    SmtpSettings,
    Theme,
    WebhookSpec,
    frozen_map,
    given,
)
from .pdfoptions import PdfOptions
from .yamlpos import PathT


def check_reports(
    c: Checker, sections: Mapping[str, SectionSpec], metrics: Mapping[str, MetricSpec]
) -> dict[str, Any]:
    """Every report's sections, attachments, alerts, burst settings and recipients."""
    declared = c.data.get("sections", {})
    _check_section_uses(c, declared, sections, metrics)
    personas = c.data.get("personas", {})
    for pname, persona in personas.items():
        _check_attachments(c, pname, persona, declared)
        _check_alerts(c, pname, persona, metrics)
        burst = "for_each" in persona
        if burst:
            check_for_each(c, pname, persona["for_each"], metrics)
        elif "filename" in persona:
            c.add(
                "'filename' is for burst reports (with for_each)",
                ("personas", pname, "filename"),
                key=True,
            )
        _check_recipients(c, pname, persona, burst)
        _check_webhook(c, pname, persona)
    _check_report_links(c, declared, personas)
    return dict(personas)


def _check_section_uses(
    c: Checker,
    declared: Mapping[str, Any],
    sections: Mapping[str, SectionSpec],
    metrics: Mapping[str, MetricSpec],
) -> None:
    """Each use of a section names a declared one; an override keeps its type."""
    sources = {n: True for n in c.data.get("sources", {})}
    for _pname, path, ref in section_refs(c):
        name = ref if isinstance(ref, str) else ref["use"]
        ref_path = path if isinstance(ref, str) else (*path, "use")
        if name not in declared:
            c.add(f"unknown section '{name}'{did_you_mean(name, declared)}", ref_path)
            continue
        if isinstance(ref, dict) and name in sections:
            merged = {**declared[name], **{k: v for k, v in ref.items() if k != "use"}}
            if "type" in ref and ref["type"] != declared[name]["type"]:
                c.add("an override cannot change the section's type", (*path, "type"))
                continue
            check_section_options(c, merged, path, sources, metrics)


def _check_attachments(
    c: Checker, pname: str, persona: Mapping[str, Any], declared: Mapping[str, Any]
) -> None:
    used = [r if isinstance(r, str) else r["use"] for r in persona.get("sections", ())]
    if "formats" in persona and "pdf" not in persona["formats"] and persona.get("send", True):
        c.add(
            "a report that is sent needs its PDF: add pdf to 'formats', or set 'send: false'",
            ("personas", pname, "formats"),
        )
    for n, att in enumerate(persona.get("attachments", ())):
        at: PathT = ("personas", pname, "attachments", n)
        if att.get("format") == "xlsx":
            if "section" in att:
                c.add(
                    "the workbook holds every table, KPI and findings section: "
                    "remove 'section' (or use format: csv for one section's rows)",
                    (*at, "section"),
                    key=True,
                )
            continue
        if "section" not in att:
            c.add("a CSV attachment names the section whose rows it holds: add 'section'", at)
            continue
        name = att["section"]
        where: PathT = (*at, "section")
        if name not in used:
            c.add(f"section '{name}' is not in this report{did_you_mean(name, used)}", where)
        elif not {"source", "query"} & set(declared.get(name, {})):
            c.add(f"section '{name}' has no rows to attach (it needs 'source' or 'query')", where)


def _check_webhook(c: Checker, pname: str, persona: Mapping[str, Any]) -> None:
    """A webhook is https (plain http only to this machine: a local relay, a test)."""
    url = str((persona.get("webhook") or {}).get("url", ""))
    if not url:
        return
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        c.add(
            f"a webhook must be an https:// URL (got {parts.scheme or 'no'} scheme)",
            ("personas", pname, "webhook", "url"),
            "its summary would otherwise travel unencrypted",
        )


def _check_alerts(
    c: Checker, pname: str, persona: Mapping[str, Any], metrics: Mapping[str, MetricSpec]
) -> None:
    for n, alert in enumerate(persona.get("alerts", ())):
        at: PathT = ("personas", pname, "alerts", n)
        try:
            names = expr_lang.parse(alert["when"]).names
        except expr_lang.ExprError as exc:
            c.add(str(exc), (*at, "when"))
        else:
            for ref in sorted(names - set(metrics)):
                c.add(f"unknown metric '{ref}'{did_you_mean(ref, metrics)}", (*at, "when"))
        for kind in ("to", "cc"):
            for i, addr in _addresses(alert.get(kind)):
                problem = address_problem(addr)
                if problem:
                    c.add(problem, (*at, kind, *((i,) if i is not None else ())))


def _check_recipients(c: Checker, pname: str, persona: Mapping[str, Any], burst: bool) -> None:
    for kind in ("to", "cc", "bcc"):
        for i, addr in _addresses(persona.get("recipients", {}).get(kind)):
            if burst and "{{" in addr:
                continue  # rendered and checked for each row when binding
            problem = address_problem(addr)
            if problem:
                idx: PathT = (i,) if i is not None else ()
                c.add(problem, ("personas", pname, "recipients", kind, *idx))


def _check_report_links(
    c: Checker, declared: Mapping[str, Any], personas: Mapping[str, Any]
) -> None:
    """A digest item's ``report:`` names a report of this project."""
    for section_name, spec in declared.items():
        for i, item in enumerate(spec.get("items", ()) if spec.get("type") == "digest" else ()):
            report = item.get("report") if isinstance(item, dict) else None
            if report and report not in personas:
                c.add(
                    f"unknown report '{report}'{did_you_mean(report, personas)}",
                    ("sections", section_name, "items", i, "report"),
                )


def check_for_each(
    c: Checker, pname: str, spec: Mapping[str, Any], metrics: Mapping[str, Any]
) -> None:
    path: PathT = ("personas", pname, "for_each")
    has = [k for k in ("source", "query") if k in spec]
    if len(has) != 1:
        c.add("for_each needs exactly one of 'source' or 'query'", path)
    check_row_feed(c, spec, path, c.data.get("sources", {}), metrics)


def check_archive(c: Checker) -> ArchiveSpec | None:
    """The archive's location; ``compare``/``trend`` on a KPI section need an archive."""
    spec = c.data.get("archive")
    if spec is None:
        places: list[tuple[PathT, Mapping[str, Any]]] = [
            (("sections", name), s) for name, s in c.data.get("sections", {}).items()
        ]
        for pname, persona in c.data.get("personas", {}).items():
            places.extend(
                (("personas", pname, "sections", i), ref)
                for i, ref in enumerate(persona.get("sections", ()))
                if isinstance(ref, dict)
            )
        for path, options in places:
            for key in ("compare", "trend"):
                if key in options:
                    c.add(
                        f"'{key}' compares against archived runs, but the project has no archive",
                        (*path, key),
                        hint="add 'archive: {location: .reportc/archive}' at the top level",
                        key=True,
                    )
        return None
    location = str(spec.get("location", ArchiveSpec.location))
    if location.startswith("s3:") and not _S3_RE.match(location):
        c.add(
            f"'{location}' is not an S3 location",
            ("archive", "location"),
            hint="use s3://bucket or s3://bucket/prefix (a lower-case bucket name)",
        )
    elif "://" in location and not location.startswith("s3://"):
        c.add(
            f"'{location}': only folders and s3:// locations are supported",
            ("archive", "location"),
        )
    return ArchiveSpec(location=location, **given(spec, "compare"))


def check_notify(c: Checker) -> NotifySpec | None:
    """``notify:``: an email address or a webhook URL (or both), each checked."""
    spec = c.data.get("notify")
    if spec is None:
        return None
    for i, addr in _addresses(spec.get("email")):
        problem = address_problem(addr)
        if problem:
            c.add(problem, ("notify", "email") if i is None else ("notify", "email", i))
    webhook = str(spec.get("webhook", ""))
    if webhook and urlsplit(webhook).scheme not in ("http", "https"):
        c.add(
            "the webhook must be an http:// or https:// URL",
            ("notify", "webhook"),
            hint="set it in the environment, e.g. webhook: ${OPS_WEBHOOK}",
        )
    if not webhook and not spec.get("email"):
        c.add(
            "notify needs an email address or a webhook to tell",
            ("notify",),
            hint="add an address (email:) or a URL (webhook: ${OPS_WEBHOOK})",
        )
    email = spec.get("email", ())
    notify = NotifySpec(
        email=(email,) if isinstance(email, str) else tuple(email),
        webhook=webhook,
        **given(spec, "timeout"),
    )
    return dataclasses.replace(notify, on=tuple(spec["on"])) if "on" in spec else notify


def _schedule(spec: Mapping[str, Any] | None) -> ScheduleSpec | None:
    return ScheduleSpec(**given(spec, "cron", "timezone")) if spec else None


def _addresses(value: Any) -> Iterable[tuple[int | None, str]]:
    if isinstance(value, str):
        yield None, value
    elif isinstance(value, list):
        yield from enumerate(value)


def check_databases(c: Checker) -> dict[str, DatabaseSpec]:
    """Database references resolve; URLs look like SQLAlchemy URLs (never echoed)."""
    declared = c.data.get("databases", {})
    out = {}
    for name, spec in declared.items():
        url = spec["url"]
        if "://" not in url:
            c.add(
                "not a database URL (expected e.g. postgresql+psycopg://host/db)",
                ("databases", name, "url"),
                "set it in the env file: url: ${WAREHOUSE_URL}",
            )
        out[name] = DatabaseSpec(name, url, c.pos.at(("databases", name), key=True))
    for kind in ("sources", "metrics"):
        for name, spec in c.data.get(kind, {}).items():
            ref = spec.get("database")
            if ref and ref not in declared:
                c.add(
                    f"unknown database '{ref}'{did_you_mean(ref, declared)}",
                    (kind, name, "database"),
                    "declare it under databases:",
                )
    return out


def check_schedules(c: Checker) -> None:
    if c.trusted:
        return
    places: list[tuple[PathT, Any]] = [(("schedule",), c.data.get("schedule"))]
    for pname, persona in c.data.get("personas", {}).items():
        places.append((("personas", pname, "schedule"), persona.get("schedule")))
    for base, spec in places:
        if isinstance(spec, dict):
            problem = schedule_problem(spec["cron"], spec.get("timezone", ScheduleSpec.timezone))
            if problem:
                key = "timezone" if "time zone" in problem else "cron"
                c.add(problem, (*base, key))


def check_theme_files(c: Checker) -> None:
    """Logo and font files must exist inside the project."""
    themes: list[tuple[PathT, Any]] = [(("theme",), c.data.get("theme"))]
    for pname, persona in c.data.get("personas", {}).items():
        themes.append((("personas", pname, "theme"), persona.get("theme")))
    for base, theme in themes:
        if not isinstance(theme, dict):
            continue
        if "logo" in theme:
            check_file(c, theme["logo"], (*base, "logo"), "logo file")
        for i, font in enumerate(theme.get("fonts", ())):
            check_file(c, font["path"], (*base, "fonts", i, "path"), "font file")


def check_delivery(c: Checker) -> Delivery:
    spec = c.data.get("delivery", {})
    for key in ("from", "reply_to", "audit_bcc"):
        for i, addr in _addresses(spec.get(key)):
            problem = address_problem(addr)
            if problem:
                c.add(problem, ("delivery", key, *((i,) if i is not None else ())))
    bcc = spec.get("audit_bcc", ())
    smtp = spec.get("smtp")
    ledger = str(spec.get("ledger", ""))
    if ledger and not ledger.startswith(LEDGER_SCHEMES):
        c.add(
            "the ledger must be a PostgreSQL URL (postgresql://user:password@host/database)",
            ("delivery", "ledger"),
            hint="leave it out to keep the ledger in SQLite on this machine",
        )
    archive = str((c.data.get("archive") or {}).get("location", ""))
    if spec.get("attach", "attach") != "attach" and not archive.startswith("s3://"):
        c.add(
            f"attach: {spec['attach']} uploads reports to the S3 archive location, and "
            "archive.location is not an s3:// URL",
            ("delivery", "attach"),
            hint="set archive: {location: s3://bucket/prefix}, or attach: attach",
        )
    return Delivery(
        **given(
            spec,
            "reply_to",
            "subject",
            "transport",
            "region",
            "endpoint_url",
            "configuration_set",
            "rate_limit",
            "max_attempts",
            "list_unsubscribe",
            "outbox",
            "state_dir",
            "ledger",
            "attach",
            "link_expiry_days",
            "slack_api_url",
            sender="from",
        ),
        audit_bcc=(bcc,) if isinstance(bcc, str) else tuple(bcc),
        tags=frozen_map(spec.get("tags")),
        smtp=SmtpSettings(**smtp) if smtp else None,
    )


def report_specs(
    c: Checker,
    personas: Mapping[str, Any],
    sections: Mapping[str, SectionSpec],
    org: Mapping[str, Any],
    theme: Theme,
    pdf: PdfOptions,
) -> dict[str, ReportSpec]:
    out: dict[str, ReportSpec] = {}
    for pname, persona in personas.items():
        resolved = []
        for i, ref in enumerate(persona["sections"]):
            name = ref if isinstance(ref, str) else ref["use"]
            base = sections[name]
            if isinstance(ref, dict):
                opts = {**base.options, **{k: v for k, v in ref.items() if k != "use"}}
                loc = c.pos.at(("personas", pname, "sections", i))
                resolved.append(SectionSpec(name, base.type, loc, frozen_map(opts)))
            else:
                resolved.append(base)
        rec = persona.get("recipients", {})
        out[pname] = ReportSpec(
            name=pname,
            title=persona["title"],
            **given(persona, "subtitle", "prepared_for", "subject", "send", "filename", "send_if"),
            location=c.pos.at(("personas", pname), key=True),
            sections=tuple(resolved),
            recipients=Recipients(
                to=tuple(a for _, a in _addresses(rec.get("to"))),
                cc=tuple(a for _, a in _addresses(rec.get("cc"))),
                bcc=tuple(a for _, a in _addresses(rec.get("bcc"))),
            ),
            locale=persona.get("locale", org.get("locale", ReportSpec.locale)),
            currency=persona.get("currency", org.get("currency", ReportSpec.currency)),
            theme=theme.merged(persona.get("theme")),
            attachments=tuple(AttachmentSpec(**a) for a in persona.get("attachments", ())),
            pdf=pdf.merged(persona.get("pdf")),
            for_each=ForEach(**persona["for_each"]) if "for_each" in persona else None,
            cover=_cover(persona.get("cover")),
            formats=tuple(persona.get("formats", DEFAULT_FORMATS)),
            slack=SlackSpec(**persona["slack"]) if "slack" in persona else None,
            webhook=WebhookSpec(**persona["webhook"]) if "webhook" in persona else None,
            schedule=_schedule(persona.get("schedule") or c.data.get("schedule")),
            alerts=tuple(
                AlertSpec(
                    when=a["when"],
                    notice=a["notice"],
                    **given(a, "style"),
                    to=tuple(x for _, x in _addresses(a.get("to"))),
                    cc=tuple(x for _, x in _addresses(a.get("cc"))),
                )
                for a in persona.get("alerts", ())
            ),
            persona=pname,
        )
    return out


def _cover(spec: Mapping[str, Any] | None) -> Cover:
    if not spec:
        return Cover()
    entities = spec.get("entities")
    return Cover(
        entities=tuple(entities) if entities is not None else None,
        **given(spec, "classification"),
    )


_S3_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")
