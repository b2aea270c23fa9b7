"""What a build will do, decided without binding or rendering anything.

Owns the build's vocabulary (:class:`ReportResult`, :class:`BuildResult`,
:class:`Shard`, the clock and progress callbacks), each persona's inputs fingerprint,
the up-to-date check against the manifest (:func:`plan_build` -> :class:`BuildPlan`),
writing the manifest, and archiving a build. A build with nothing to do stops here:
this module imports none of the binding, rendering or PDF stages
(:mod:`reportc.pipeline` runs those).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .archive import ArchiveResult, Baselines, archive_build, wanted_points
from .config.model import ALL_FORMATS, DEFAULT_FORMATS, Project, frozen_map
from .errors import BuildFailed, ConfigError, Location, Problem, ReportcError, did_you_mean
from .figures import values_digest
from .incremental import Fingerprinter
from .manifest import FileRecord, Manifest, ReportEntry, read_manifest
from .states import BuildState, ReportState
from .stores import open_store

#: what build writes by default (a persona's ``formats:`` and ``--format`` change it)
FORMATS = DEFAULT_FORMATS
MANIFEST = "manifest.json"
Clock = Callable[[], dt.datetime]
#: progress(event, report, index, total, detail); events: start, done, failed.
Progress = Callable[[str, str, int, int, str], None]


def default_clock(project: Project) -> Clock:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) if set, else the wall clock."""
    epoch = project.env.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        fixed = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
        return lambda: fixed
    return utc_now


def reportc_version() -> str:
    try:
        return metadata.version("reportc")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+source"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class ReportResult:
    name: str
    title: str
    files: Mapping[str, FileRecord] = field(default_factory=frozen_map)
    sources: Mapping[str, str] = field(default_factory=frozen_map)
    error: ReportcError | None = None
    refused_urls: tuple[str, ...] = ()
    html_sha256: str = ""
    persona: str = ""
    inputs: str = ""
    state: BuildState = BuildState.BUILT
    #: Failed quality checks: the report was built but must not be sent.
    blocked: tuple[str, ...] = ()
    #: The report's figures (metrics and KPI cards), for the archive and send_if.
    values: Mapping[str, Any] = field(default_factory=frozen_map)
    #: What packaging its email needs (see :func:`packaging`).
    email: Mapping[str, Any] = field(default_factory=frozen_map)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def values_sha256(self) -> str:
        return values_digest(dict(self.values))


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    period: str
    reports: tuple[ReportResult, ...]
    manifest: Path | None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    @property
    def failed(self) -> tuple[ReportResult, ...]:
        return tuple(r for r in self.reports if not r.ok)

    def raise_for_failures(self, allow_failed_checks: bool = False) -> None:
        problems: list[Problem] = []
        for r in self.failed:
            assert r.error is not None
            problems.extend(r.error.problems)
        if not allow_failed_checks:
            for r in self.reports:
                problems.extend(
                    Problem(
                        f"report '{r.name}' is blocked: {why}",
                        hint="fix the data, or override with --allow-failed-checks",
                    )
                    for why in r.blocked
                )
        if problems:
            raise BuildFailed(problems)


def output_dir(project: Project, out_dir: Path | str | None) -> Path:
    out = Path(out_dir) if out_dir is not None else project.root / "dist"
    return out if out.is_absolute() else project.root / out


def html_digest(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def choose_personas(project: Project, names: Sequence[str] | None) -> list[str]:
    """The personas to build, in project order; unknown names are a config error."""
    if not names:
        return list(project.personas)
    unknown = [n for n in names if n not in project.personas]
    if unknown:
        raise ConfigError(
            [
                Problem(
                    f"no persona '{n}'{did_you_mean(n, project.personas)}",
                    Location("--persona"),
                    hint="personas: " + ", ".join(project.personas),
                )
                for n in unknown
            ]
        )
    wanted = set(names)
    return [n for n in project.personas if n in wanted]


@dataclass(frozen=True)
class Shard:
    """``--shard I/N``: this machine builds the reports whose name hashes to I of N."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str, environ: Mapping[str, str] | None = None) -> Shard:
        """``I/N`` (1-based), or ``auto`` / ``auto/N``: see :meth:`auto`."""
        if text == "auto" or text.startswith("auto/"):
            return cls.auto(environ or {}, text.partition("/")[2] or None)
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"'{text}' is not a shard; use I/N, e.g. 2/4, or auto") from None
        if not (n >= 1 and 1 <= i <= n):
            raise ValueError(f"'{text}' is not a shard; I must be between 1 and N")
        return cls(i, n)

    @classmethod
    def auto(cls, environ: Mapping[str, str], count: str | None = None) -> Shard:
        """The shard an array job's engine assigns, from its environment. The engines
        count from 0, shards from 1: index 0 is shard 1/N.

        - AWS Batch array job: ``AWS_BATCH_JOB_ARRAY_INDEX``; N from ``auto/N``, else
          ``AWS_BATCH_JOB_ARRAY_SIZE`` (set it in the job definition; Batch does not).
        - Kubernetes Indexed Job: ``JOB_COMPLETION_INDEX``; N from ``auto/N``, else
          ``REPORTC_SHARD_COUNT`` (the Job's ``completions``).
        """
        engines = {
            "AWS_BATCH_JOB_ARRAY_INDEX": "AWS_BATCH_JOB_ARRAY_SIZE",
            "JOB_COMPLETION_INDEX": "REPORTC_SHARD_COUNT",
        }
        index_var = next((v for v in engines if environ.get(v, "").strip()), "")
        count_var = engines.get(index_var, "")
        if not index_var:
            raise ValueError(
                "--shard auto: neither AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch) nor "
                "JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; use I/N elsewhere"
            )
        total = (count or environ.get(count_var, "")).strip()
        index = environ[index_var].strip()
        if not total.isdigit() or int(total) < 1:
            raise ValueError(
                f"--shard auto: {index_var} is set but not the number of shards; "
                f"give it as auto/N or set {count_var}"
            )
        if not index.isdigit() or int(index) >= int(total):
            raise ValueError(
                f"--shard auto: {index_var}={index} is not an index from 0 to {int(total) - 1}"
            )
        return cls(int(index) + 1, int(total))

    def owns(self, name: str) -> bool:
        digest = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:12], 16)
        return digest % self.count == self.index - 1

    @property
    def manifest(self) -> str:
        return f"manifest.shard-{self.index}-of-{self.count}.json"


def manifest_entries(path: Path) -> dict[str, ReportEntry]:
    """The per-report entries of a manifest file ({} if missing or unreadable)."""
    return dict(read_manifest(path).reports)


def merged_manifest(out: Path) -> dict[str, ReportEntry]:
    """The report entries of ``manifest.json`` and every shard's manifest, merged."""
    merged: dict[str, ReportEntry] = {}
    for path in sorted(out.glob("manifest*.json")):
        for name, entry in manifest_entries(path).items():
            if entry.built or name not in merged:
                merged[name] = entry
    return merged


def project_baselines(project: Project, names: Iterable[str]) -> Baselines | None:
    """The archive's baselines, if any of these reports compares against it."""
    if project.archive is None or not any(wanted_points(project.personas[n]) for n in names):
        return None
    return Baselines(open_store(project), project.archive.compare)


def intact(out: Path, entry: ReportEntry) -> bool:
    """The entry's files are there and have the recorded size (a cheap check)."""
    if not entry.files:
        return False
    for record in entry.files.values():
        path = out / record.path
        if not path.is_file() or path.stat().st_size != record.bytes:
            return False
    return True


def up_to_date(
    out: Path,
    entries: Mapping[str, ReportEntry],
    persona: str,
    inputs: str,
    *,
    blocked_too: bool = False,
    partial: bool = False,
) -> list[str]:
    """Names of the persona's reports if all are built from these inputs, else [].

    A report blocked by a failed check counts as up to date only with ``blocked_too``
    (``send`` reports it as blocked; ``build`` builds it again). With ``partial``, the
    reports that are up to date even when some others of the persona are not (right
    after a build in which some rows failed)."""
    states = (ReportState.OK, ReportState.BLOCKED) if blocked_too else (ReportState.OK,)
    mine = {n: e for n, e in entries.items() if (e.persona or n) == persona}
    good = sorted(
        n
        for n, e in mine.items()
        if e.state in states and e.inputs_sha256 == inputs and intact(out, e)
    )
    return good if partial or len(good) == len(mine) else []


def report_inputs(
    project: Project,
    personas: Sequence[str],
    formats: Sequence[str],
    generated: dt.datetime,
    baselines: Baselines | None,
) -> dict[str, str]:
    """Each persona's inputs fingerprint (config, data files, templates, versions, and
    the archived baseline it compares against): equal fingerprints, equal reports."""
    fingerprints = Fingerprinter(project, formats)
    inputs = {p: fingerprints.report(project.personas[p]) for p in personas}
    fingerprints.save()
    if baselines is not None:
        # A new archived run changes what the report compares against.
        mark = baselines.digest(project.period, generated)
        for p in personas:
            if wanted_points(project.personas[p]):
                inputs[p] = hashlib.sha256(f"{inputs[p]}:{mark}".encode()).hexdigest()
    return inputs


def write_manifest(
    project: Project, path: Path, results: Sequence[ReportResult], generated: dt.datetime
) -> Path:
    entries = manifest_entries(path)
    for r in results:
        state = ReportState.of(r.ok, r.blocked)
        entries[r.name] = ReportEntry(
            title=r.title,
            persona=r.persona or r.name,
            state=state,
            period=project.period.label,
            built_at=generated.isoformat(),
            inputs_sha256=r.inputs,
            checks=tuple(r.blocked),
            files=dict(r.files) if r.ok else {},
            sources=dict(r.sources) if r.ok else {},
            html_sha256=r.html_sha256 if r.ok else "",
            values_sha256=r.values_sha256 if r.ok else "",
            values=dict(r.values) if r.ok else None,
            email=dict(r.email) if r.ok and r.email else None,
            errors=tuple(p.format() for p in r.error.problems) if r.error is not None else (),
        )
    Manifest(
        entries,
        project=project.organisation,
        period=project.period.label,
        generated_at=generated.isoformat(),
        reportc_version=reportc_version(),
    ).write(path)
    return path


def archive_run(
    project: Project,
    *,
    out_dir: Path | str | None = None,
    store: Any = None,
    clock: Clock | None = None,
    allow_failed_checks: bool = False,
) -> ArchiveResult:
    """Archive what ``out_dir`` holds for the project's period as one run.

    ``store`` defaults to the project's ``archive:`` location (a folder or S3);
    returns an :class:`reportc.archive.ArchiveResult`.
    """
    out = output_dir(project, out_dir)
    return archive_build(
        project,
        out,
        merged_manifest(out),
        store=store if store is not None else open_store(project),
        now=(clock or utc_now)(),
        allow_failed_checks=allow_failed_checks,
    )


@dataclass(frozen=True)
class BuildPlan:
    """What ``build`` will do: the chosen personas, their fingerprints, and which of
    them are up to date (their manifest entries become ``unchanged`` results)."""

    chosen: tuple[str, ...]
    #: the formats asked for (--format); empty: each report's own ``formats``
    formats: tuple[str, ...]
    out: Path
    generated: dt.datetime
    manifest_path: Path
    inputs: Mapping[str, str]
    baselines: Baselines | None
    unchanged: tuple[ReportResult, ...] = ()

    def wants(self, project: Project, fmt: str) -> bool:
        """Whether any report to build is written in this format."""
        return any(fmt in project.personas[p].formats_for(self.formats) for p in self.to_build)

    @property
    def to_build(self) -> tuple[str, ...]:
        done = {r.persona for r in self.unchanged}
        return tuple(p for p in self.chosen if p not in done)

    def finish(
        self, project: Project, results: Sequence[ReportResult], order: Sequence[str]
    ) -> BuildResult:
        """Sort the results as the project lists them, write the manifest, and say so."""
        place = {n: i for i, n in enumerate([*order, *sorted(r.name for r in self.unchanged)])}
        merged = [*self.unchanged, *results]
        merged.sort(
            key=lambda r: (
                self.chosen.index(r.persona) if r.persona in self.chosen else 0,
                place.get(r.name, 0),
            )
        )
        built = [r for r in merged if r.state is not BuildState.UNCHANGED]
        manifest = self.manifest_path
        if built or not manifest.is_file():  # nothing built: the manifest says it already
            write_manifest(project, manifest, built, self.generated)
        return BuildResult(self.out, project.period.label, tuple(merged), manifest)


def plan_build(
    project: Project,
    *,
    reports: Sequence[str] | None = None,
    out_dir: Path | str | None = None,
    formats: Iterable[str] = (),
    clock: Clock | None = None,
    force: bool = False,
    shard: Shard | None = None,
    baselines: Baselines | None = None,
    check: bool = True,
) -> BuildPlan:
    """Decide what to build: a persona whose inputs fingerprint matches the manifest
    (and whose files are intact) is up to date, unless ``force`` (or not ``check``)."""
    chosen = choose_personas(project, reports)
    wanted = tuple(f for f in ALL_FORMATS if f in set(formats))
    out = output_dir(project, out_dir)
    generated = (clock or default_clock(project))()
    manifest_path = out / (shard.manifest if shard else MANIFEST)
    previous = manifest_entries(manifest_path)
    if baselines is None:
        baselines = project_baselines(project, chosen)
    inputs = report_inputs(project, chosen, wanted, generated, baselines)
    unchanged = [
        ReportResult(n, previous[n].title, persona=p, inputs=inputs[p], state=BuildState.UNCHANGED)
        for p in (chosen if check and not force else ())
        for n in up_to_date(out, previous, p, inputs[p])
    ]
    return BuildPlan(
        tuple(chosen),
        wanted,
        out,
        generated,
        manifest_path,
        frozen_map(inputs),
        baselines,
        tuple(unchanged),
    )
