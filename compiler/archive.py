"""The run archive: every successful build's files and figures, kept by period and run.

Owns the snapshot of a report's bound values (its metrics and KPI cards, as JSON),
the two stores (a local folder, or S3 through an injected boto3 client), archiving a
build (:func:`archive_build`), reading runs back (:func:`list_runs`, :func:`resolve`),
the baseline and trend a report is compared against (:class:`Baselines`), and the
comparison of two runs (:func:`diff`).

Layout, the same in a folder and under an S3 prefix::

    <period>/<run_id>/run.json        what the run holds (written last: a run
                                      without it is incomplete and ignored)
    <period>/<run_id>/values.json     {report: {"metrics": {...}, "kpis": {...}}}
    <period>/<run_id>/manifest.json   the build's manifest entries
    <period>/<run_id>/<report>.pdf    and <report>.html

A run id is ``<UTC time>-<6 hex of its content>``; archiving a build whose files and
figures equal the period's latest run stores nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config.model import Period, Point, Project, ReportSpec, frozen_map
from .errors import ArchiveError, Problem, did_you_mean
from .figures import canonical
from .manifest import SCHEMA_VERSION, ReportEntry
from .section_types import behaviour
from .states import ReportState
from .stores import RUN_FILE, Store

VALUES_FILE = "values.json"
#: version 2 added ``schema_version`` to run.json and values.json (whose reports moved
#: under "reports"); version-1 files (without it) read as they are
ARCHIVE_SCHEMA_VERSION = 2
#: A run archived less than this before a build is the same cycle (a rebuild), not
#: the previous one, for ``compare: previous_run``.
BASELINE_GAP = dt.timedelta(hours=12)


# --------------------------------------------------------------------------- values


def wanted_points(spec: ReportSpec) -> int:
    """How many archived runs a report shows: 1 for ``previous_run`` in its narrative,
    and what its sections' types ask for (a comparison, a trend)."""
    want = 0
    for section in spec.sections:
        texts = (section.options.get(k) for k in ("text", "intro", "note"))
        if any(isinstance(s, str) and "previous_run" in s for s in texts):
            want = max(want, 1)
        kind = behaviour(section.type)
        if kind is not None:
            want = max(want, kind.history(section.options))
    return want


# --------------------------------------------------------------------------- stores


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    run_id: str
    period: str
    created_at: dt.datetime
    reports: Mapping[str, Mapping[str, Any]] = field(default_factory=frozen_map)
    project: str = ""

    @property
    def key(self) -> str:
        return f"{self.period}/{self.run_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": ARCHIVE_SCHEMA_VERSION,
            "run_id": self.run_id,
            "period": self.period,
            "created_at": self.created_at.isoformat(),
            "project": self.project,
            "reports": {k: dict(v) for k, v in self.reports.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Run:
        _check_version(data, RUN_FILE)
        return cls(
            run_id=str(data["run_id"]),
            period=str(data["period"]),
            created_at=dt.datetime.fromisoformat(data["created_at"]),
            reports=frozen_map(data.get("reports", {})),
            project=str(data.get("project", "")),
        )


def list_runs(store: Store) -> list[Run]:
    """Every complete run, oldest first."""
    runs = []
    for key in store.run_keys():
        try:
            runs.append(Run.from_json(json.loads(store.get(key))))
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(
                Problem(f"{store.url}/{key} is not a run record: {exc}", hint="remove that run")
            ) from exc
    return sorted(runs, key=lambda r: (r.created_at, r.run_id))


def resolve(runs: Sequence[Run], ref: str) -> Run:
    """A run by id, unique prefix, ``latest`` or ``previous`` (the one before latest)."""
    if not runs:
        raise ArchiveError(Problem("the archive holds no runs yet", hint="run 'reportc build'"))
    if ref in ("latest", "previous"):
        index = -1 if ref == "latest" else -2
        if len(runs) < -index:
            raise ArchiveError(Problem("the archive holds only one run; there is no 'previous'"))
        return runs[index]
    exact = [r for r in runs if r.run_id == ref]
    found = exact or [r for r in runs if r.run_id.startswith(ref)]
    if len(found) == 1:
        return found[0]
    if found:
        raise ArchiveError(
            Problem(
                f"'{ref}' matches {len(found)} runs: {', '.join(r.run_id for r in found[:5])}",
                hint="give more of the run id",
            )
        )
    raise ArchiveError(
        Problem(
            f"no run '{ref}' in the archive{did_you_mean(ref, [r.run_id for r in runs])}",
            hint="'reportc history' lists the runs",
        )
    )


def _check_version(data: Mapping[str, Any], what: str) -> None:
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > ARCHIVE_SCHEMA_VERSION:
        raise ValueError(
            f"{what} has schema_version {version!r}, newer than this reportc reads "
            f"({ARCHIVE_SCHEMA_VERSION}); upgrade reportc"
        )


def load_values(store: Store, run: Run) -> dict[str, Any]:
    """Each report's figures in a run: version 2 under "reports", version 1 the file."""
    data = json.loads(store.get(f"{run.key}/{VALUES_FILE}"))
    if not isinstance(data, dict):
        return {}
    if "schema_version" in data and isinstance(data.get("reports"), dict):
        _check_version(data, VALUES_FILE)
        return dict(data["reports"])
    return dict(data)


# --------------------------------------------------------------------------- archiving


@dataclass(frozen=True)
class ArchiveResult:
    run: Run
    #: archived | unchanged (equal to the period's latest run, which is returned)
    state: str
    url: str


def _summary(entry: ReportEntry) -> dict[str, Any]:
    pdf = entry.files.get("pdf")
    html = entry.files.get("html")
    return {
        "title": entry.title,
        "persona": entry.persona,
        "status": entry.state.value,
        "checks": list(entry.checks),
        "pdf_sha256": pdf.sha256 if pdf else "",
        "pages": pdf.pages if pdf else None,
        "html_sha256": html.sha256 if html else "",
        "values_sha256": entry.values_sha256,
        "files": {kind: Path(f.path).name for kind, f in entry.files.items()},
    }


def _content(reports: Mapping[str, Mapping[str, Any]]) -> str:
    return hashlib.sha256(canonical({k: dict(v) for k, v in reports.items()})).hexdigest()


def archive_build(
    project: Project,
    out: Path,
    entries: Mapping[str, ReportEntry],
    *,
    store: Store,
    now: dt.datetime,
    allow_failed_checks: bool = False,
) -> ArchiveResult:
    """Store the current period's built reports in ``out`` as one run.

    Refuses (and stores nothing) when a report failed, is blocked by a check (unless
    ``allow_failed_checks``), lacks its figures, or its files no longer match the
    manifest.
    """
    period = project.period.label
    mine = {n: e for n, e in sorted(entries.items()) if e.period == period}
    if not mine:
        raise ArchiveError(
            Problem(f"nothing was built for {period} in {out}", hint="run 'reportc build' first")
        )
    problems = [p for n, e in mine.items() for p in _unarchivable(n, e, allow_failed_checks)]
    if problems:
        raise ArchiveError(problems)
    summaries = {n: _summary(e) for n, e in mine.items()}
    content = _content(summaries)
    same = [r for r in list_runs(store) if r.period == period]
    if same and _content(same[-1].reports) == content:
        return ArchiveResult(same[-1], "unchanged", store.url)
    files = _built_files(out, mine)
    now = now.astimezone(dt.timezone.utc).replace(microsecond=0)
    run = Run(
        run_id=f"{now:%Y%m%dT%H%M%SZ}-{content[:6]}",
        period=period,
        created_at=now,
        reports=frozen_map(summaries),
        project=project.organisation,
    )
    for filename, data in files.items():
        store.put(f"{run.key}/{filename}", data)
    _store_records(store, run, project, mine)
    return ArchiveResult(run, "archived", store.url)


def _unarchivable(name: str, entry: ReportEntry, allow_failed_checks: bool) -> list[Problem]:
    """Why a report's build cannot be archived (failed, blocked, or without figures)."""
    if entry.state is ReportState.FAILED:
        return [Problem(f"report '{name}' failed to build; nothing was archived")]
    if entry.blocked and not allow_failed_checks:
        return [
            Problem(
                f"report '{name}' is blocked by a failed check; nothing was archived",
                hint="fix the data, or archive anyway with --allow-failed-checks",
            )
        ]
    if entry.values is None:
        return [
            Problem(
                f"report '{name}' was built by an older reportc (no figures in the manifest)",
                hint="rebuild with 'reportc build --force'",
            )
        ]
    return []


def _built_files(out: Path, entries: Mapping[str, ReportEntry]) -> dict[str, bytes]:
    """Each entry's files, read back and checked against the manifest's digests."""
    files: dict[str, bytes] = {}
    for entry in entries.values():
        for record in entry.files.values():
            path = out / record.path
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ArchiveError(
                    Problem(f"{path}: {exc.strerror}", hint="rebuild with 'reportc build'")
                ) from exc
            if hashlib.sha256(data).hexdigest() != record.sha256:
                raise ArchiveError(
                    Problem(
                        f"{path} does not match the manifest (changed since the build)",
                        hint="rebuild with 'reportc build --force'",
                    )
                )
            files[Path(record.path).name] = data
    return files


def _store_records(
    store: Store, run: Run, project: Project, entries: Mapping[str, ReportEntry]
) -> None:
    """values.json, the manifest and, last (it completes the run), run.json."""
    values = {n: dict(e.values or {}) for n, e in entries.items()}
    doc = {"schema_version": ARCHIVE_SCHEMA_VERSION, "reports": values}
    store.put(f"{run.key}/{VALUES_FILE}", json.dumps(doc, indent=1).encode() + b"\n")
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "project": project.organisation,
        "period": run.period,
        # without the email's packaging (a burst row's recipients stay out of the archive)
        "reports": {
            n: {k: v for k, v in e.to_json().items() if k != "email"} for n, e in entries.items()
        },
    }
    store.put(f"{run.key}/manifest.json", json.dumps(manifest, indent=1).encode() + b"\n")
    store.put(f"{run.key}/{RUN_FILE}", json.dumps(run.to_json(), indent=1).encode() + b"\n")


# --------------------------------------------------------------------------- baselines


class Baselines:
    """The runs a build compares against, read from the store once and lazily."""

    def __init__(self, store: Store, compare: str = "previous_run") -> None:
        self.store = store
        self.compare = compare
        self._runs: list[Run] | None = None
        self._values: dict[str, dict[str, Any]] = {}

    def runs(self) -> list[Run]:
        if self._runs is None:
            self._runs = list_runs(self.store)
        return self._runs

    def eligible(self, period: Period, built_at: dt.datetime) -> list[Run]:
        """The runs before this build, oldest first (one per period for previous_period)."""
        if self.compare == "previous_period":
            latest: dict[str, Run] = {}
            for run in self.runs():
                try:
                    earlier = Period.parse(run.period).end < period.start
                except ValueError:
                    continue
                if earlier:
                    latest[run.period] = run
            return sorted(latest.values(), key=lambda r: (r.created_at, r.run_id))
        cutoff = built_at - BASELINE_GAP
        return [r for r in self.runs() if r.created_at <= cutoff]

    def digest(self, period: Period, built_at: dt.datetime) -> str:
        """Changes when the baseline runs change (for incremental builds)."""
        ids = ",".join(r.run_id for r in self.eligible(period, built_at))
        return hashlib.sha256(f"{self.compare}:{ids}".encode()).hexdigest()

    def points(
        self, report: str, period: Period, built_at: dt.datetime, count: int
    ) -> tuple[Point, ...]:
        if count <= 0:
            return ()
        chosen = [r for r in self.eligible(period, built_at) if report in r.reports][-count:]
        points = []
        for run in chosen:
            if run.run_id not in self._values:
                self._values[run.run_id] = load_values(self.store, run)
            values = self._values[run.run_id].get(report)
            if values is not None:
                points.append(Point(run.run_id, run.period, run.created_at, frozen_map(values)))
        return tuple(points)


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class Change:
    report: str
    #: metric | kpi | rows (a section's rows, by digest) | report
    kind: str
    name: str
    before: Any
    after: Any


def _flat(values: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    flat: dict[tuple[str, str], Any] = {
        ("metric", k): v for k, v in values.get("metrics", {}).items()
    }
    for section, cards in values.get("kpis", {}).items():
        flat.update({("kpi", f"{section}: {label}"): v for label, v in cards.items()})
    flat.update({("rows", section): v for section, v in values.get("rows", {}).items()})
    return flat


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, include_same: bool = False
) -> list[Change]:
    """Figures that differ between two runs' values (reports added or removed too)."""
    changes: list[Change] = []
    for report in sorted(set(before) | set(after)):
        if report not in before or report not in after:
            changes.append(
                Change(
                    report,
                    "report",
                    report,
                    "present" if report in before else None,
                    "present" if report in after else None,
                )
            )
            continue
        a, b = _flat(before[report]), _flat(after[report])
        for key in sorted(set(a) | set(b)):
            if include_same or a.get(key) != b.get(key):
                changes.append(Change(report, key[0], key[1], a.get(key), b.get(key)))
    return changes
