"""Incremental builds: a fingerprint of everything a report's output depends on.

A report's *inputs* are its configuration subtree (the persona, its sections,
the sources and metrics they need, every metric — templates may show any),
the bytes of the data files, logo and font files those touch, the templates
(the project's and the built-in ones), the period, the formats, and the
versions of reportc, WeasyPrint and vl-convert. If the fingerprint of a report
matches the manifest's and its files are intact, the report is not rebuilt.
Computing it needs no database and no rendering; a report that reads an
external database is always rebuilt (we cannot see whether it changed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .config.model import Project, ReportSpec
from .config.protection import pkcs12_path
from .errors import Location
from .graph import sql_dependencies
from .resources import builtin_dir
from .writer import file_sha256, project_digests


def _canon(value: Any) -> Any:
    """A JSON-able, position-free view of configuration values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _canon(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not isinstance(getattr(value, f.name), Location)
        }
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _tree_digest(folders: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(folder)).encode())
            h.update(file_sha256(path).encode())
    return h.hexdigest()


@cache
def versions() -> tuple[str, ...]:
    out = []
    for package in ("reportc", "weasyprint", "vl-convert-python", "duckdb"):
        try:
            out.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            out.append(f"{package}=?")
    return tuple(out)


class Fingerprinter:
    """Computes report input fingerprints for one project, sharing file digests."""

    def __init__(self, project: Project, formats: Iterable[str]) -> None:
        self.project = project
        self.formats = tuple(formats)
        self._files: dict[Path, str] = {}
        self._digests = project_digests(project.root, project.delivery.state_dir)
        self._templates = _tree_digest(
            [
                project.root / "templates",
                project.root / "sections",
                builtin_dir("templates"),
                builtin_dir("sections"),
            ]
        )

    def _digest(self, path: Path) -> str:
        if path not in self._files:
            self._files[path] = self._digests.sha256(path) if path.is_file() else "missing"
        return self._files[path]

    def save(self) -> None:
        """Remember the file digests taken (see :class:`reportc.writer.FileDigests`)."""
        self._digests.save()

    def report(self, spec: ReportSpec) -> str:
        project = self.project
        graph = project.graph
        names = set(project.sources) | set(project.metrics)
        direct: set[str] = set(project.metrics)
        sources = set(project.sources)  # every metric is an input already
        for section in spec.sections:
            direct |= graph.section_needs(section, sources)
            if isinstance(section.options.get("query"), str):
                direct |= set(sql_dependencies(section.options["query"], names))
        if spec.for_each is not None:
            direct |= (
                {spec.for_each.source}
                if spec.for_each.source
                else set(sql_dependencies(spec.for_each.query, names))
            )
        needs = graph.closure(direct & names)
        external = sorted(
            n
            for n in needs
            if (n in project.sources and project.sources[n].database)
            or (n in project.metrics and project.metrics[n].database)
        )
        files: dict[str, str] = {}
        if external:
            # We cannot tell whether a database changed: such reports are always rebuilt.
            files["(external databases: always rebuilt)"] = f"{time.time_ns()}"
        for name in sorted(needs):
            src = project.sources.get(name)
            if src is not None and src.path is not None:
                files[str(src.path.relative_to(project.root))] = self._digest(src.path)
        for rel in [spec.theme.logo, *(f.path for f in spec.theme.fonts)]:
            if rel:
                files[rel] = self._digest(project.root / rel)
        if spec.pdf.sign is not None:  # a new signing key re-signs (a new password: --force)
            files["(signing key)"] = self._digest(pkcs12_path(project.root, spec.pdf.sign.pkcs12))
        doc = {
            "report": _canon(spec),
            "sources": {
                n: _canon(project.sources[n]) for n in sorted(needs) if n in project.sources
            },
            "metrics": {n: _canon(m) for n, m in sorted(project.metrics.items())},
            "organisation": [project.organisation, list(project.entities)],
            "period": project.period.label,
            "formats": list(spec.formats_for(self.formats)),
            "files": files,
            "templates": self._templates,
            "versions": list(versions()),
        }
        blob = json.dumps(doc, sort_keys=True, default=str).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()
