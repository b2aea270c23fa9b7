"""``manifest.json``: what a build made, as typed, versioned records.

A manifest lists, per report, its state, the files written (path, sha256, bytes,
pages), the inputs it was built from and its figures. It is read in one place
(:func:`read_manifest`), which upgrades older files: version 1 is the format
before the manifest carried a ``schema_version`` (the same keys), so reading it
needs no change but the version. Unreadable or missing files read as empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .states import ReportState
from .writer import write_atomic

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class FileRecord:
    path: str
    sha256: str
    bytes: int
    pages: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}
        if self.pages is not None:
            out["pages"] = self.pages
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileRecord:
        return cls(
            str(data.get("path", "")),
            str(data.get("sha256", "")),
            int(data.get("bytes", 0) or 0),
            int(data["pages"]) if data.get("pages") is not None else None,
        )


@dataclass(frozen=True)
class ReportEntry:
    """One report of a manifest."""

    title: str
    persona: str
    state: ReportState
    period: str
    built_at: str
    inputs_sha256: str = ""
    checks: tuple[str, ...] = ()
    files: Mapping[str, FileRecord] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    html_sha256: str = ""
    values_sha256: str = ""
    values: Mapping[str, Any] | None = None
    errors: tuple[str, ...] = ()
    #: What packaging needs, so that sending an up-to-date build loads no data and
    #: renders nothing: title, subtitle, lang, the email summary, the fired alerts
    #: (indices into the persona's), and for a burst row its resolved recipients.
    email: Mapping[str, Any] | None = None

    @property
    def blocked(self) -> bool:
        """Built, but a quality check failed (``checks`` says which)."""
        return self.state is ReportState.BLOCKED

    @property
    def built(self) -> bool:
        """Its files were written (it may still be blocked by a check)."""
        return self.state in (ReportState.OK, ReportState.BLOCKED)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "title": self.title,
            "checks": list(self.checks),
            "persona": self.persona,
            "inputs_sha256": self.inputs_sha256,
            "period": self.period,
            "status": self.state.value,
            "built_at": self.built_at,
        }
        if self.built:
            out["files"] = {kind: f.to_json() for kind, f in self.files.items()}
            out["sources"] = dict(self.sources)
            out["html_sha256"] = self.html_sha256
            out["values_sha256"] = self.values_sha256
            out["values"] = dict(self.values or {})
            if self.email is not None:
                out["email"] = dict(self.email)
        else:
            out["errors"] = list(self.errors)
        return out

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ReportEntry:
        try:
            state = ReportState(str(data.get("status", "failed")))
        except ValueError:
            state = ReportState.FAILED
        files = data.get("files") if isinstance(data.get("files"), dict) else {}
        return cls(
            title=str(data.get("title", name)),
            persona=str(data.get("persona", name)),
            state=state,
            period=str(data.get("period", "")),
            built_at=str(data.get("built_at", "")),
            inputs_sha256=str(data.get("inputs_sha256", "")),
            checks=tuple(str(c) for c in data.get("checks", ()) or ()),
            files={str(k): FileRecord.from_json(v) for k, v in (files or {}).items()},
            sources={str(k): str(v) for k, v in (data.get("sources") or {}).items()},
            html_sha256=str(data.get("html_sha256", "")),
            values_sha256=str(data.get("values_sha256", "")),
            values=data["values"] if isinstance(data.get("values"), dict) else None,
            errors=tuple(str(e) for e in data.get("errors", ()) or ()),
            email=data["email"] if isinstance(data.get("email"), dict) else None,
        )


@dataclass(frozen=True)
class Manifest:
    reports: Mapping[str, ReportEntry] = field(default_factory=dict)
    project: str = ""
    period: str = ""
    generated_at: str = ""
    reportc_version: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "reportc_version": self.reportc_version,
            "project": self.project,
            "period": self.period,
            "generated_at": self.generated_at,
            "reports": {k: self.reports[k].to_json() for k in sorted(self.reports)},
        }

    def write(self, path: Path) -> None:
        text = json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"
        write_atomic(path, text.encode("utf-8"))


def upgrade(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A manifest document in the current version's shape (version 1: no change)."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        return {}  # a newer reportc wrote it: treat as absent (everything is rebuilt)
    return data


def read_manifest(path: Path) -> Manifest:
    """The manifest at ``path`` (empty if missing, unreadable or from a newer reportc)."""
    if not path.is_file():
        return Manifest()
    try:
        data = json.loads(path.read_text("utf-8"))
    except (ValueError, OSError):
        return Manifest()
    if not isinstance(data, dict):
        return Manifest()
    data = dict(upgrade(data))
    reports = data.get("reports") if isinstance(data.get("reports"), dict) else {}
    return Manifest(
        {
            str(n): ReportEntry.from_json(str(n), e)
            for n, e in (reports or {}).items()
            if isinstance(e, dict)
        },
        project=str(data.get("project", "")),
        period=str(data.get("period", "")),
        generated_at=str(data.get("generated_at", "")),
        reportc_version=str(data.get("reportc_version", "")),
    )
