"""The validated, typed project: frozen dataclasses handed from `load` to `bind`.

Nothing here reads files or the environment; :mod:`reportc.config.loader` builds
these from a validated document. Mappings are read-only views so that a
``Project`` can be shared by every stage (and every worker) without copies.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import Location
from ..graph import DependencyGraph
from .pdfoptions import PdfOptions
from .yamlpos import PositionMap

_PERIOD_RE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")


def frozen_map(data: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Period:
    """The reporting period: a month, a quarter or a year, with inclusive dates."""

    label: str
    kind: str
    start: dt.date
    end: dt.date

    @property
    def title(self) -> str:
        if self.kind == "month":
            return f"{calendar.month_name[self.start.month]} {self.start.year}"
        if self.kind == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        return str(self.start.year)

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD_RE.match(text.strip())
        if not match:
            raise ValueError(
                f"'{text}' is not a period; use YYYY-MM (month), YYYY-Qn (quarter) or YYYY (year)"
            )
        year = int(match.group(1))
        if match.group(2):
            month = int(match.group(2))
            last = calendar.monthrange(year, month)[1]
            return cls(text, "month", dt.date(year, month, 1), dt.date(year, month, last))
        if match.group(3):
            q = int(match.group(3))
            first = 3 * (q - 1) + 1
            last_month = first + 2
            last = calendar.monthrange(year, last_month)[1]
            return cls(text, "quarter", dt.date(year, first, 1), dt.date(year, last_month, last))
        return cls(text, "year", dt.date(year, 1, 1), dt.date(year, 12, 31))

    @property
    def previous(self) -> Period:
        """The period just before this one, of the same kind."""
        before = self.start - dt.timedelta(days=1)
        if self.kind == "month":
            return Period.parse(f"{before.year:04d}-{before.month:02d}")
        if self.kind == "quarter":
            return Period.parse(f"{before.year:04d}-Q{(before.month - 1) // 3 + 1}")
        return Period.parse(f"{before.year:04d}")

    @property
    def short_title(self) -> str:
        """'Sep 2026', 'Q3 2026', '2026': what a change is compared against."""
        if self.kind == "month":
            return f"{calendar.month_abbr[self.start.month]} {self.start.year}"
        return self.title

    @classmethod
    def default_for(cls, today: dt.date) -> Period:
        """The last complete month before ``today``."""
        first = today.replace(day=1)
        prev = first - dt.timedelta(days=1)
        return cls.parse(f"{prev.year:04d}-{prev.month:02d}")

    def params(self) -> dict[str, Any]:
        return {"period": self.label, "period_start": self.start, "period_end": self.end}


@dataclass(frozen=True)
class FontSpec:
    """A font file inside the project, embedded in the PDF via @font-face."""

    family: str
    path: str
    weight: int = 400
    style: str = "normal"


@dataclass(frozen=True)
class Theme:
    primary_color: str = "#1f3a5f"
    accent_color: str = "#c8102e"
    paper: str = "Letter"
    orientation: str = "portrait"
    logo: str = ""
    font_family: str = ""
    fonts: tuple[FontSpec, ...] = ()
    cover: bool = True

    def merged(self, overrides: Mapping[str, Any] | None) -> Theme:
        if not overrides:
            return self
        values = {**self.__dict__, **overrides}
        values["fonts"] = tuple(
            f if isinstance(f, FontSpec) else FontSpec(**f) for f in values["fonts"]
        )
        return Theme(**values)


@dataclass(frozen=True)
class DatabaseSpec:
    """An external database (SQLAlchemy URL). The URL may hold credentials: never shown."""

    name: str
    url: str = field(repr=False)
    location: Location | None = None


@dataclass(frozen=True)
class SourceSpec:
    name: str
    type: str
    location: Location
    path: Path | None = None
    records: str | None = None
    query: str | None = None
    rows: tuple[Mapping[str, Any], ...] = ()
    types: Mapping[str, str] = field(default_factory=frozen_map)
    delimiter: str = ","
    encoding: str = "utf-8"
    description: str = ""
    database: str = ""
    checks: Mapping[str, Any] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    location: Location
    sql: str | None = None
    expr: str | None = None
    label: str = ""
    description: str = ""
    format: str = "number"
    decimals: int | None = None
    unit: str = ""
    database: str = ""
    checks: Mapping[str, Any] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class SectionSpec:
    """A section as declared (or as overridden by a report): type plus options."""

    name: str
    type: str
    location: Location
    options: Mapping[str, Any] = field(default_factory=frozen_map)

    @property
    def title(self) -> str:
        return str(self.options.get("title", ""))


@dataclass(frozen=True)
class Recipients:
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttachmentSpec:
    """An extra attachment: the rows of one of the report's sections as CSV, or (format
    ``xlsx``, no section) the report's workbook."""

    section: str = ""
    format: str = "csv"
    filename: str = ""


#: what 'reportc build' can write for a report, and what it writes by default
ALL_FORMATS = ("html", "pdf", "xlsx")
DEFAULT_FORMATS = ("html", "pdf")


@dataclass(frozen=True)
class SlackSpec:
    """``slack:``: the PDF uploaded to a channel, with the summary, by a bot token."""

    channel: str
    token_env: str = "SLACK_BOT_TOKEN"


@dataclass(frozen=True)
class WebhookSpec:
    """``webhook:``: the summary (and a link) posted as Teams, Slack or plain JSON."""

    #: usually from the environment: it holds the hook's secret; never shown whole
    url: str = field(repr=False)
    format: str = "json"


@dataclass(frozen=True)
class ScheduleSpec:
    cron: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class AlertSpec:
    """A rule: when ``when`` (an expression over metrics) holds, show ``notice`` and
    add the alert-only recipients to this report's email."""

    when: str
    notice: str
    style: str = "warn"
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForEach:
    """Burst a report: one per row of ``source`` or ``query``, identified by ``key``."""

    key: str
    source: str = ""
    query: str = ""


@dataclass(frozen=True)
class Cover:
    """What the cover and the page footers say about a report's audience: the entities
    listed (None: all of the organisation's) and the classification label ("" for none)."""

    entities: tuple[str, ...] | None = None
    classification: str = "Confidential"


@dataclass(frozen=True)
class ReportSpec:
    """One report (a persona): its title, ordered sections and recipients."""

    name: str
    title: str
    location: Location
    sections: tuple[SectionSpec, ...]
    subtitle: str = ""
    prepared_for: str = ""
    recipients: Recipients = field(default_factory=Recipients)
    locale: str = "en_US"
    currency: str = "USD"
    theme: Theme = field(default_factory=Theme)
    subject: str = ""
    attachments: tuple[AttachmentSpec, ...] = ()
    #: what build writes for it (``formats:``; ``--format`` overrides)
    formats: tuple[str, ...] = DEFAULT_FORMATS
    send: bool = True
    pdf: PdfOptions = field(default_factory=PdfOptions)
    for_each: ForEach | None = None
    filename: str = ""
    schedule: ScheduleSpec | None = None
    alerts: tuple[AlertSpec, ...] = ()
    #: always | changed (send only when the figures differ from the last sent run)
    send_if: str = "always"
    cover: Cover = field(default_factory=Cover)
    #: chat channels besides email (each delivery a ledger entry of its own)
    slack: SlackSpec | None = None
    webhook: WebhookSpec | None = field(default=None, repr=False)
    #: For a burst instance: the persona it came from and its row.
    persona: str = ""
    row: Mapping[str, Any] = field(default_factory=frozen_map)

    @property
    def attaches_workbook(self) -> bool:
        return any(a.format == "xlsx" for a in self.attachments)

    def formats_for(self, requested: Sequence[str] = ()) -> tuple[str, ...]:
        """What build writes for this report: ``requested`` (--format) or its own
        ``formats``, and the workbook whenever its email attaches it."""
        wanted = set(requested or self.formats) | ({"xlsx"} if self.attaches_workbook else set())
        return tuple(f for f in ALL_FORMATS if f in wanted)


def given(data: Mapping[str, Any], *keys: str, **renamed: str) -> dict[str, Any]:
    """The keys of ``data`` that are set (``field="yaml_key"`` where the names differ),
    as keyword arguments: the dataclass's own defaults fill in the rest, so every
    default is written once, here in the model."""
    out = {k: data[k] for k in keys if k in data}
    out.update({field_name: data[key] for field_name, key in renamed.items() if key in data})
    return out


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int | None = None
    security: str = "starttls"
    username_env: str = "SMTP_USERNAME"
    password_env: str = "SMTP_PASSWORD"
    max_message_bytes: int = 25 * 1024 * 1024
    timeout: float = 30.0


#: the URLs delivery.ledger may take: a PostgreSQL database (SQLAlchemy's spelling too)
LEDGER_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


@dataclass(frozen=True)
class Delivery:
    sender: str = ""
    reply_to: str = ""
    audit_bcc: tuple[str, ...] = ()
    subject: str = "{{ report.title }} — {{ period.title }}"
    transport: str = "ses"
    region: str = ""
    endpoint_url: str = ""
    configuration_set: str = ""
    tags: Mapping[str, str] = field(default_factory=frozen_map)
    rate_limit: float | None = None
    max_attempts: int = 5
    list_unsubscribe: str = ""
    outbox: str = "dist/outbox"
    state_dir: str = ".reportc"
    smtp: SmtpSettings | None = None
    #: a PostgreSQL URL for a ledger shared by every host ('' : SQLite in state_dir)
    ledger: str = field(default="", repr=False)
    #: attach | link | auto: how a report's PDF (and workbook) goes
    attach: str = "attach"
    #: how long a link works (presigned S3 URLs last at most 7 days)
    link_expiry_days: int = 7
    #: the Slack Web API (another for GovSlack, or a test server)
    slack_api_url: str = "https://slack.com/api/"


@dataclass(frozen=True)
class ArchiveSpec:
    """Where runs are archived (a folder or ``s3://bucket/prefix``) and the baseline rule."""

    location: str = ".reportc/archive"
    compare: str = "previous_run"


@dataclass(frozen=True)
class NotifySpec:
    """Who hears of a run that ended badly (``notify:``), and for which outcomes."""

    on: tuple[str, ...] = ("failed", "blocked", "uncertain")
    email: tuple[str, ...] = ()
    #: an http(s) URL (usually from the environment); never shown whole
    webhook: str = field(default="", repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class Project:
    """A loaded, validated project. Paths are absolute."""

    root: Path
    config_path: Path
    organisation: str
    entities: tuple[str, ...]
    locale: str
    currency: str
    period: Period
    theme: Theme
    delivery: Delivery
    sources: Mapping[str, SourceSpec]
    metrics: Mapping[str, MetricSpec]
    sections: Mapping[str, SectionSpec]
    #: The declared personas (``personas:``), by name: each builds one report, or one
    #: per row when it bursts (``for_each``).
    personas: Mapping[str, ReportSpec]
    positions: PositionMap
    legal_name: str = ""
    databases: Mapping[str, DatabaseSpec] = field(default_factory=frozen_map, repr=False)
    #: The merged environment (env file + process) for credentials; never shown.
    env: Mapping[str, str] = field(default_factory=frozen_map, repr=False)
    archive: ArchiveSpec | None = None
    notify: NotifySpec | None = None
    #: What depends on what, built once at load (see :mod:`reportc.graph`).
    graph: DependencyGraph = field(default_factory=DependencyGraph, repr=False)

    @property
    def config_name(self) -> str:
        return self.positions.file


@dataclass(frozen=True)
class Point:
    """One archived run's figures for one report (a baseline or a trend point)."""

    run_id: str
    period: str
    created_at: dt.datetime
    values: Mapping[str, Any] = field(default_factory=frozen_map)

    @property
    def label(self) -> str:
        return self.created_at.strftime("%d %b %Y").lstrip("0")
