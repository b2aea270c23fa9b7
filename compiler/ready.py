"""What ``send`` takes from the build: each report ready to package (:class:`ReadyReport`:
spec, rendered summary, PDF, CSV attachments, checks, alerts).

A report whose inputs fingerprint matches the manifest comes from ``dist/`` and the
manifest alone (no data loaded, nothing rendered); a stale one is built once, as
``reportc build`` would, and then read the same way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bound import BoundReport
from .config.model import Project, Recipients, ReportSpec
from .errors import ConfigError, Location, Problem, ReportcError, did_you_mean
from .manifest import ReportEntry
from .pipeline import attachment_csvs, build
from .plan import (
    Clock,
    choose_personas,
    merged_manifest,
    project_baselines,
    report_inputs,
    up_to_date,
)
from .rendered import RenderedReport
from .snapshot import snapshot, values_digest
from .workbook import workbook


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
    #: the report's workbook, when its email attaches it
    xlsx: bytes = b""

    @functools.cached_property
    def pdf_sha256(self) -> str:
        """Hashed once (the ledger's prior copies, send_if, the channels' keys read it)."""
        return hashlib.sha256(self.pdf).hexdigest()

    @classmethod
    def of(cls, report: BoundReport, rendered: RenderedReport, pdf: bytes) -> ReadyReport:
        """Everything packaging needs, from the bound report, its HTML and its PDF (and
        its workbook, made here when its email attaches one)."""
        when = dt.datetime.combine(report.period.end, dt.time(), dt.timezone.utc)
        xlsx = workbook(report, when) if report.spec.attaches_workbook else b""
        return cls(
            report.spec,
            rendered,
            pdf,
            attachment_csvs(report),
            report.blocked,
            report.alerts,
            values_digest(snapshot(report)),
            xlsx=xlsx,
        )


def _file_if_current(out: Path, entry: ReportEntry | None, kind: str = "pdf") -> bytes | None:
    """The bytes of one of the entry's files, if it is there and unaltered."""
    record = entry.files.get(kind) if entry is not None else None
    if record is None:
        return None
    path = out / record.path
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if hashlib.sha256(data).hexdigest() == record.sha256 else None


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
    inputs = report_inputs(project, names, (), now, project_baselines(project, names))
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
    pdf = _file_if_current(out, entry)
    if email is None or pdf is None or entry.period != project.period.label:
        return None
    spec = project.personas[persona]
    xlsx = _file_if_current(out, entry, "xlsx") if spec.attaches_workbook else b""
    if xlsx is None:
        return None
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
    return ReadyReport(
        spec, rendered, pdf, csv, entry.checks, alerts, entry.values_sha256, xlsx=xlsx
    )


def select_reports(project: Project, names: Sequence[str] | None) -> tuple[list[str], set[str]]:
    """Personas to prepare, and the burst instances asked for by name (empty: all).

    ``--persona territory-T005`` names one row's report of a burst persona: its
    persona is prepared and only that instance is sent.
    """
    if not names:
        return choose_personas(project, None), set()
    bursts = [n for n, r in project.personas.items() if r.for_each is not None]
    personas: list[str] = []
    instances: set[str] = set()
    for name in names:
        if name in project.personas:
            personas.append(name)
            continue
        owners = [p for p in bursts if name.startswith(p + "-")] or [
            p for p in bursts if project.personas[p].filename
        ]
        if not owners:
            personas.append(name)  # unknown: choose_personas says so, with a suggestion
            continue
        personas.extend(owners)
        instances.add(name)
    return choose_personas(project, list(dict.fromkeys(personas))), instances


def partial_selection(
    names: Sequence[str] | None, instances: set[str], project: Project
) -> set[str]:
    """Burst personas chosen only through some of their rows' report names."""
    if not instances:
        return set()
    named = set(names or ())
    return {p for p, r in project.personas.items() if r.for_each is not None and p not in named}


def only_instances(
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
