"""Deliveries besides email: a report's summary for Slack (with its PDF) and webhooks
(Teams, Slack incoming webhooks, or plain JSON), composed as :class:`ChannelEnvelope`\\s
so that each goes through the same ledger as a message: exactly once, resumable, with
dry runs, rate limits and retries.

What a channel carries is the email summary's: the title and period, the key figures,
the alerts that fired and the most severe findings, and a link to the PDF when it was
uploaded (``delivery.attach: link``/``auto``). Data is always literal text: for Slack
``&``, ``<`` and ``>`` are escaped (so a cell cannot mention ``<!channel>`` or hide a
link), for Teams Markdown's specials too. A channel's key is its kind, target, report,
period and PDF, so the same PDF is posted once, and a new one once more. A run with
``--redirect-to`` (a test send) posts to no channel.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .config.model import Project, WebhookSpec
from .errors import DeliveryError
from .links import Link, Linker
from .mime import Envelope
from .packaging import file_stem
from .ready import ReadyReport

#: what starts Markdown formatting in a Teams card: emphasis, code, links, HTML, tables
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#~|])")


@dataclass(frozen=True)
class ChannelEnvelope(Envelope):
    """A channel delivery: ``raw`` is its JSON payload; ``file`` what Slack uploads."""

    kind: str = ""
    target: str = field(default="", repr=False)
    file: bytes = field(default=b"", repr=False)
    filename: str = ""
    token_env: str = ""
    #: where reports.yaml declares it (``reports.yaml:41:5: personas.ceo.slack``)
    where: str = ""


def slack_escape(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_escape(text: Any) -> str:
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\n", " ")


def webhook_shown(url: str) -> str:
    """A webhook as it may be shown and recorded: its host, never its path or query."""
    return urlsplit(url).hostname or "webhook"


@dataclass(frozen=True)
class Summary:
    """What every channel says about one report."""

    title: str
    period: str
    figures: tuple[tuple[str, str], ...]
    findings: tuple[tuple[str, str], ...]
    alerts: tuple[str, ...]
    link: Link | None


def summary_of(project: Project, item: ReadyReport, link: Link | None) -> Summary:
    data = item.rendered.summary
    figures = tuple(
        (
            str(h.get("label", "")),
            " ".join(filter(None, (str(h.get("value", "")), str(h.get("unit", ""))))),
        )
        for h in data.get("highlights", ())
    )
    findings = tuple(
        (str(f.get("severity", "")).upper(), str(f.get("title", "")))
        for f in data.get("findings", ())
    )
    alerts = tuple(str(a.get("text", "")) for a in data.get("alerts", ()))
    return Summary(
        f"{item.spec.title} — {project.period.title}",
        project.period.label,
        figures,
        findings,
        alerts,
        link,
    )


def slack_blocks(s: Summary) -> dict[str, Any]:
    """Slack's Block Kit: a header, the figures as fields, alerts, findings and the link."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": s.title[:150]}}
    ]
    if s.figures:
        fields = [
            {"type": "mrkdwn", "text": f"*{slack_escape(k)}*\n{slack_escape(v)}"}
            for k, v in s.figures[:10]
        ]
        blocks.append({"type": "section", "fields": fields})
    notes = [f":warning: {slack_escape(a)}" for a in s.alerts]
    notes += [f"• *{slack_escape(sev)}* {slack_escape(t)}" for sev, t in s.findings]
    if notes:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(notes)[:3000]}}
        )
    if s.link is not None:
        expires = s.link.expires.strftime("%d %b %Y %H:%M UTC")
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"<{s.link.url}|{slack_escape(s.link.filename)}> "
                    f"(link expires {expires})",
                },
            }
        )
    return {"text": slack_escape(s.title), "blocks": blocks}


def teams_card(s: Summary, colour: str) -> dict[str, Any]:
    """An Office 365 connector MessageCard (Teams incoming webhooks)."""
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": s.title,
        "themeColor": colour.lstrip("#"),
        "title": teams_escape(s.title),
        "sections": [
            {"facts": [{"name": teams_escape(k), "value": teams_escape(v)} for k, v in s.figures]},
        ],
    }
    notes = [teams_escape(a) for a in s.alerts] + [
        f"**{teams_escape(sev)}** {teams_escape(t)}" for sev, t in s.findings
    ]
    if notes:
        card["sections"].append({"text": "<br>".join(notes)})
    if s.link is not None:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": f"Open {s.link.filename}",
                "targets": [{"os": "default", "uri": s.link.url}],
            }
        ]
    return card


def plain_json(s: Summary, report: str, pdf_sha256: str) -> dict[str, Any]:
    """reportc's own document: every value as literal text."""
    return {
        "text": s.title,
        "reportc": {
            "report": report,
            "title": s.title,
            "period": s.period,
            "figures": [{"label": k, "value": v} for k, v in s.figures],
            "alerts": list(s.alerts),
            "findings": [{"severity": sev, "title": t} for sev, t in s.findings],
            "pdf_sha256": pdf_sha256,
            "link": {"url": s.link.url, "expires": s.link.expires.isoformat()} if s.link else None,
        },
    }


def _envelope(
    item: ReadyReport,
    kind: str,
    target: str,
    shown: str,
    payload: Mapping[str, Any],
    **extra: Any,
) -> ChannelEnvelope:
    """The delivery, keyed by its channel, target, report and PDF (posted once each)."""
    pdf_sha = item.pdf_sha256
    key = hashlib.sha256(
        json.dumps([kind, target, item.spec.name, pdf_sha]).encode("utf-8")
    ).hexdigest()
    raw = json.dumps(payload, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    return ChannelEnvelope(
        report=item.spec.name,
        key=key,
        sender="",
        to=(shown,),
        cc=(),
        bcc=(),
        subject=str(payload.get("title") or payload.get("text") or item.spec.title)[:200],
        message_id="",
        raw=raw,
        pdf_sha256=pdf_sha,
        tags={"channel": kind},
        kind=kind,
        target=target,
        **extra,
    )


def _where(project: Project, persona: str, key: str) -> str:
    return f"{project.positions.at(('personas', persona, key))}: personas.{persona}.{key}"


def channel_envelopes(
    project: Project,
    ready: Mapping[str, ReadyReport],
    *,
    linker: Linker | None,
    redirected: bool,
) -> tuple[list[ChannelEnvelope], dict[str, DeliveryError]]:
    """Every ready report's channel deliveries (none for a redirected test run), and the
    webhooks that cannot go because their link could not be made, by report."""
    out: list[ChannelEnvelope] = []
    failed: dict[str, DeliveryError] = {}
    if redirected:
        return out, failed
    for name, item in ready.items():
        spec = item.spec
        filename = file_stem(project, spec) + ".pdf"  # as the email names it
        persona = spec.persona or name
        if spec.slack is not None:
            payload = {
                "channel": spec.slack.channel,
                **slack_blocks(summary_of(project, item, None)),
            }
            out.append(
                _envelope(
                    item,
                    "slack",
                    spec.slack.channel,
                    f"slack:{spec.slack.channel}",
                    payload,
                    file=item.pdf,
                    filename=filename,
                    token_env=spec.slack.token_env,
                    where=_where(project, persona, "slack"),
                )
            )
        if spec.webhook is not None:
            period, where = project.period.label, _where(project, persona, "webhook")
            try:
                link = (
                    linker.link(name, period, filename, item.pdf, item.pdf_sha256)
                    if linker is not None
                    else None
                )
            except DeliveryError as exc:  # this webhook fails alone; Slack still goes
                failed[name] = exc
                continue
            out.append(_webhook(project, item, spec.webhook, link, where))
    return out, failed


def _webhook(
    project: Project, item: ReadyReport, hook: WebhookSpec, link: Link | None, where: str
) -> ChannelEnvelope:
    """A webhook's post, in its format."""
    s = summary_of(project, item, link)
    if hook.format == "teams":
        payload = teams_card(s, item.spec.theme.primary_color)
    elif hook.format == "slack":
        payload = slack_blocks(s)
    else:
        payload = plain_json(s, item.spec.name, item.pdf_sha256)
    shown = f"webhook:{hook.format}:{webhook_shown(hook.url)}"
    return _envelope(item, "webhook", hook.url, shown, payload, where=where)
