"""Live preview: ``reportc preview`` serves the reports on 127.0.0.1 and rebuilds on change.

Owns the preview *state* (one immutable :class:`Snapshot` per rebuild: the loaded
project and each report's HTML, or the problems that stopped it), the watcher that
rebuilds when a file of the project changes, and a small HTTP server:

- ``/``                  the reports, with links, or the problem that stopped the build
- ``/<report>.html``     the report as HTML (what the PDF is made from)
- ``/<report>.pdf``      the PDF, laid out on first request and kept for that build
- ``/<report>.email``    the message as a recipient would see it (from the real MIME)
- ``/__reportc/wait?generation=N``  answers when a build newer than N is ready; every
  page polls it and reloads itself, so the browser follows each edit
- other paths: the project's own fonts and images (by extension, inside the project)

It listens on loopback only and sends nothing. A bad edit shows its problems, with
their ``file:line:col``, in the page; the server keeps running.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bind import bind
from .config.model import Project, frozen_map
from .errors import DeliveryError, Problem, ReportcError
from .limits import TimeLimitExceeded, time_limit
from .packaging import package
from .pdf import make_pdf
from .pipeline import data_files, with_history
from .plan import project_baselines
from .ready import ReadyReport
from .render import make_environment, render_report
from .rendered import RenderedReport

#: Folders whose changes never trigger a rebuild (outputs, state, tooling).
IGNORED_DIRS = {"dist", ".reportc", ".git", "__pycache__", "node_modules", ".venv", "outbox"}
WAIT_SECONDS = 25.0

Loader = Callable[[], Project]


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    #: the report rendered for this build (None when it has problems)
    rendered: RenderedReport | None = None
    problems: tuple[Problem, ...] = ()
    #: failed quality checks: the report builds, but send would refuse it
    blocked: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """One build of the preview: the reports, or why there are none."""

    generation: int
    built_at: dt.datetime
    project: Project | None = None
    pages: Mapping[str, Page] = field(default_factory=frozen_map)
    problems: tuple[Problem, ...] = ()
    #: what a report's PDF and email need beyond its HTML (bound data), by report name
    extras: Mapping[str, Any] = field(default_factory=frozen_map, repr=False)
    seconds: float = 0.0


def build_snapshot(load: Loader, generation: int, clock: Callable[[], dt.datetime]) -> Snapshot:
    """Load, bind and render every report to HTML; problems are kept, never raised."""
    started = time.monotonic()
    now = clock()
    try:
        project = load()
        bound = bind(project, list(project.personas))
        bound = with_history(
            project,
            bound,
            bound.order,
            project_baselines(project, list(project.personas)),
            lambda _: now,
        )
    except ReportcError as exc:
        return Snapshot(generation, now, problems=exc.problems, seconds=time.monotonic() - started)
    env = make_environment(project.root)
    pages: dict[str, Page] = {}
    for name in bound.order:
        if name in bound.failures:
            title = project.personas[name].title if name in project.personas else name
            pages[name] = Page(name, title, problems=bound.failures[name].problems)
            continue
        report = bound.reports[name]
        try:
            rendered = render_report(report, project, env=env, generated=now)
        except ReportcError as exc:
            pages[name] = Page(name, report.spec.title, problems=exc.problems)
            continue
        pages[name] = Page(name, rendered.title, rendered, blocked=report.blocked)
    return Snapshot(
        generation,
        now,
        project,
        frozen_map(pages),
        extras=frozen_map({"bound": bound}),
        seconds=time.monotonic() - started,
    )


def project_signature(root: Path, extra: tuple[Path, ...] = ()) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every file that can change a report."""
    found: list[tuple[str, int, int]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.startswith("."))
        for name in files:
            path = Path(folder) / name
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((str(path), st.st_mtime_ns, st.st_size))
    for path in extra:
        try:
            st = path.stat()
            found.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            found.append((str(path), 0, -1))
    return tuple(sorted(found))


#: seconds a rebuild may take before it is stopped (and shown in the page)
REBUILD_SECONDS = 60.0


class Preview:
    """The state of a preview session: the current snapshot, rebuilt when files change."""

    def __init__(
        self,
        root: Path,
        load: Loader,
        *,
        extra_files: tuple[Path, ...] = (),
        clock: Callable[[], dt.datetime] | None = None,
        interval: float = 0.4,
        log: Callable[[str], None] | None = None,
        rebuild_seconds: float = REBUILD_SECONDS,
    ) -> None:
        self.rebuild_seconds = rebuild_seconds
        self.root = root
        self.load = load
        self.extra_files = extra_files
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.interval = interval
        self.log = log or (lambda message: None)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._signature = project_signature(root, extra_files)
        self.snapshot = self._build(1)
        self._pdfs: dict[tuple[int, str], bytes] = {}
        self._emails: dict[tuple[int, str], bytes] = {}
        self._lock = threading.Lock()
        self._layout = threading.Lock()  # one PDF laid out at a time
        self._report(self.snapshot)

    def _report(self, snap: Snapshot) -> None:
        if snap.problems:
            self.log(f"build {snap.generation}: {len(snap.problems)} problem(s)")
            for p in snap.problems:
                self.log(f"  {p.format()}")
        else:
            failed = sum(1 for p in snap.pages.values() if p.problems)
            self.log(
                f"build {snap.generation}: {len(snap.pages)} report(s) in {snap.seconds:.1f} s"
                + (f", {failed} with problems" if failed else "")
            )

    def check(self) -> bool:
        """Rebuild if any file changed since the last build; True if it did."""
        signature = project_signature(self.root, self.extra_files)
        if signature == self._signature:
            return False
        self._signature = signature
        snap = self._build(self.snapshot.generation + 1)
        with self._changed:
            self.snapshot = snap
            with self._lock:
                self._pdfs.clear()
                self._emails.clear()
            self._changed.notify_all()
        self._report(snap)
        return True

    def _build(self, generation: int) -> Snapshot:
        """A new snapshot; a rebuild that loops or explodes is stopped and shown."""
        try:
            with time_limit(self.rebuild_seconds, "the rebuild"):
                return build_snapshot(self.load, generation, self.clock)
        except TimeLimitExceeded as exc:
            problem = Problem(
                str(exc), hint="a template or expression loops too long; the next edit is picked up"
            )
        except MemoryError:
            problem = Problem(
                "the rebuild ran out of memory and was stopped",
                hint="a template or the data grew too large; the next edit is picked up",
            )
        except Exception as exc:  # a bug, not bad input: still say so in the page
            problem = Problem(
                f"unexpected error while building: {type(exc).__name__}: {exc}",
                hint="this is a bug in reportc; please report it with the file that caused it",
            )
        return Snapshot(generation, self.clock(), problems=(problem,))

    def watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # keep watching: the next edit may fix it
                self.log(f"rebuild failed: {exc!r}")

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def wait(self, generation: int, timeout: float = WAIT_SECONDS) -> int:
        """Block until a build newer than ``generation`` exists (or timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.snapshot.generation <= generation and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self.snapshot.generation

    def pdf(self, snap: Snapshot, name: str) -> bytes:
        key = (snap.generation, name)
        with self._lock:
            if key in self._pdfs:
                return self._pdfs[key]
        rendered = snap.pages[name].rendered
        assert snap.project is not None and rendered is not None
        report = snap.extras["bound"].reports[name]
        spec = report.spec
        with self._layout:
            with self._lock:
                if key in self._pdfs:  # laid out while this request waited
                    return self._pdfs[key]
            artifact = make_pdf(
                rendered,
                snap.project.root,
                options=spec.pdf,
                data_files=tuple(data_files(report)) if spec.pdf.attach_data else (),
                when=dt.datetime.combine(snap.project.period.end, dt.time(), dt.timezone.utc),
            )
        with self._lock:
            self._pdfs[key] = artifact.pdf
        return artifact.pdf

    def email(self, snap: Snapshot, name: str) -> bytes:
        """The raw MIME message ``reportc send`` would deliver for this report."""
        key = (snap.generation, name)
        with self._lock:
            if key in self._emails:
                return self._emails[key]
        rendered = snap.pages[name].rendered
        assert snap.project is not None and rendered is not None
        project = snap.project
        report = snap.extras["bound"].reports[name]
        ready = ReadyReport.of(report, rendered, self.pdf(snap, name))
        packed = package(project, {name: ready}, run_id="preview", when=self.clock())
        if packed.problems:
            raise DeliveryError(packed.problems)
        raw = packed.envelopes[name].raw
        with self._lock:
            self._emails[key] = raw
        return raw


# --------------------------------------------------------------------------- pages


# --------------------------------------------------------------------------- server
