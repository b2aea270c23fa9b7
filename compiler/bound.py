"""What binding produces: each report's sections with their rows, its figures, history and
positions (:class:`BoundReport`), and the whole bind's result (:class:`BindResult`).
Plain frozen data: rendering, the archive and send read it; nothing here runs a query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config.model import (
    AlertSpec,
    MetricSpec,
    Period,
    Point,
    ReportSpec,
    SectionSpec,
    frozen_map,
)
from .config.yamlpos import PositionMap
from .errors import ReportcError


@dataclass(frozen=True)
class BoundSection:
    spec: SectionSpec
    rows: tuple[Mapping[str, Any], ...] = ()
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoundReport:
    """Everything rendering needs for one report; plain data only."""

    spec: ReportSpec
    period: Period
    organisation: str
    entities: tuple[str, ...]
    metrics: Mapping[str, Any]
    metric_specs: Mapping[str, MetricSpec]
    sections: tuple[BoundSection, ...]
    sources_used: Mapping[str, str] = field(default_factory=frozen_map)
    report_titles: Mapping[str, str] = field(default_factory=frozen_map)
    #: Folders of the project's font files (charts measure text with them).
    font_dirs: tuple[Path, ...] = ()
    #: Where rendered charts are cached by content (None: no cache).
    cache_dir: Path | None = None
    #: Failed quality checks of the sources and metrics this report uses: it is blocked.
    blocked: tuple[str, ...] = ()
    #: The report's alert rules that fire on this data.
    alerts: tuple[AlertSpec, ...] = ()
    #: The organisation's legal name (default: its name), on the cover and the last page.
    legal_name: str = ""
    #: Where each key of reports.yaml is, so later stages can point at it.
    positions: PositionMap = field(default_factory=lambda: PositionMap("reports.yaml"))
    #: Archived runs to compare against, oldest first (``compare: archive``, ``trend``).
    history: tuple[Point, ...] = ()


@dataclass(frozen=True)
class BindResult:
    reports: Mapping[str, BoundReport]
    failures: Mapping[str, ReportcError]
    fingerprints: Mapping[str, str]
    #: Every source or metric that failed, used by a chosen report or not.
    node_failures: Mapping[str, ReportcError] = field(default_factory=frozen_map)
    #: Sources in the order they were loaded (each once, or once per row for $row_ ones).
    loaded: tuple[str, ...] = ()
    #: Every report (burst instances included) in build order, failed ones too.
    order: tuple[str, ...] = ()
    #: Report name -> the persona it comes from (itself, unless burst).
    personas: Mapping[str, str] = field(default_factory=frozen_map)
