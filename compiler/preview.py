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

import contextlib
import datetime as dt
import email
import html
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .bind import bind
from .config.model import Project, frozen_map
from .dispatch import ReadyReport, package
from .errors import DeliveryError, Problem, ReportcError
from .limits import TimeLimitExceeded, time_limit
from .pdf import make_pdf
from .pipeline import data_files, with_history
from .plan import project_baselines
from .render import RenderedReport, make_environment, render_report
from .resources import builtin_dir

#: Folders whose changes never trigger a rebuild (outputs, state, tooling).
IGNORED_DIRS = {"dist", ".reportc", ".git", "__pycache__", "node_modules", ".venv", "outbox"}
#: What the preview serves from the project folder besides reports.
STATIC_TYPES = {
    ".otf": "font/otf",
    ".ttf": "font/ttf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}
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
        bound = bind(project, list(project.reports))
        bound = with_history(
            project,
            bound,
            bound.order,
            project_baselines(project, list(project.reports)),
            lambda _: now,
        )
    except ReportcError as exc:
        return Snapshot(generation, now, problems=exc.problems, seconds=time.monotonic() - started)
    env = make_environment(project.root)
    pages: dict[str, Page] = {}
    for name in bound.order:
        if name in bound.failures:
            title = project.reports[name].title if name in project.reports else name
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
#: connections served at once; seconds an idle connection is kept
MAX_CONNECTIONS = 64
IDLE_SECONDS = 10.0


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


def _asset(name: str) -> str:
    return (builtin_dir("templates") / name).read_text("utf-8")


def _reload_script(generation: int) -> str:
    return f'<script data-generation="{generation}">{_asset("preview.js")}</script>'


def _problems_html(problems: tuple[Problem, ...], heading: str) -> str:
    text = "\n".join(p.format() for p in problems)
    return (
        f'<section class="problems" id="problems"><h2>{html.escape(heading)}</h2>'
        f"<pre>{html.escape(text)}</pre></section>"
    )


def _frame(title: str, body: str, snap: Snapshot) -> str:
    project = snap.project
    where = (
        f"{html.escape(project.organisation)} · {html.escape(project.period.title)}"
        if project is not None
        else "not built"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_asset('preview.css')}</style></head><body>"
        f'<header><strong><a href="/">reportc preview</a></strong><span>{where}</span>'
        f'<span class="meta">build {snap.generation} at {snap.built_at:%H:%M:%S} UTC</span>'
        "</header>"
        f"<main>{body}</main>{_reload_script(snap.generation)}</body></html>"
    )


def index_page(snap: Snapshot) -> str:
    if snap.problems:
        return _frame(
            "reportc preview — problems",
            _problems_html(snap.problems, "The project does not build")
            + '<p class="meta">Fix the file; this page reloads by itself.</p>',
            snap,
        )
    rows = []
    for page in snap.pages.values():
        n = html.escape(page.name)
        if page.problems:
            state = f'<span class="bad">{len(page.problems)} problem(s)</span>'
        elif page.blocked:
            reasons = html.escape("; ".join(page.blocked))
            state = f'<span class="bad" title="{reasons}">blocked</span>: {reasons}'
        else:
            state = "ok"
        rows.append(
            f"<tr><td>{n}</td><td>{html.escape(page.title)}</td><td>{state}</td>"
            f'<td><a href="/{n}.html">HTML</a> · <a href="/{n}.pdf">PDF</a> · '
            f'<a href="/{n}.email">Email</a></td></tr>'
        )
    body = (
        "<h1>Reports</h1><table><tr><th>Report</th><th>Title</th><th>State</th><th>View</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return _frame("reportc preview", body, snap)


_CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')
#: no remote fetch of any kind: this server's own pages, data: images, inline CSS/JS
PREVIEW_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "font-src 'self' data:; script-src 'unsafe-inline'; connect-src 'self'; "
    "frame-src 'self'; base-uri 'none'; form-action 'none'"
)


def report_page(snap: Snapshot, page: Page) -> str:
    """The report's own HTML, with the reload poller added."""
    script = _reload_script(snap.generation)
    assert page.rendered is not None
    # The report's own policy forbids every script; the preview's pages are served with
    # PREVIEW_CSP instead (one inline poller, requests to this server only).
    doc = _CSP_META.sub("", page.rendered.html, count=1)
    at = doc.rfind("</body>")
    return doc[:at] + script + doc[at:] if at >= 0 else doc + script


def email_page(snap: Snapshot, name: str, raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    fields = "".join(
        f"<dt>{h}</dt><dd>{html.escape(str(msg[h]))}</dd>"
        for h in ("From", "To", "Cc", "Reply-To", "Subject")
        if msg[h]
    )
    body = msg.get_body(("html", "plain"))
    content = body.get_content() if body is not None else ""
    if body is not None and body.get_content_type() == "text/plain":
        content = f"<pre>{html.escape(content)}</pre>"
    files = [
        f"{html.escape(part.get_filename() or '')} ({len(part.get_content()):,} bytes)"
        for part in msg.iter_attachments()
    ]
    fields += f"<dt>Attachments</dt><dd>{'<br>'.join(files) or 'none'}</dd>"
    frame = html.escape(content, quote=True)
    body_html = (
        f"<h1>Email: {html.escape(name)}</h1><dl>{fields}</dl>"
        '<p class="meta">Bcc recipients (the audit copy) are not shown in the message, '
        "as a recipient sees it.</p>"
        f'<iframe sandbox="" srcdoc="{frame}" title="message body"></iframe>'
    )
    return _frame(f"Email: {name}", body_html, snap)


# --------------------------------------------------------------------------- server


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "reportc-preview"
        timeout = IDLE_SECONDS  # a connection that sends nothing is closed

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the preview logs builds, not requests

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", PREVIEW_CSP)
            self.end_headers()
            if self.command != "HEAD":
                # The browser may have gone away (a reload, say).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        def _html(self, text: str, status: int = 200) -> None:
            self._send(status, text.encode("utf-8"), "text/html; charset=utf-8")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            # Only pages asked for by this machine's own name: a web page elsewhere cannot
            # read the reports through a DNS name it points at 127.0.0.1 (DNS rebinding).
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
            if host not in ("127.0.0.1", "localhost", "::1"):
                self._send(403, b"forbidden host", "text/plain; charset=utf-8")
                return
            url = urlsplit(self.path)
            path = unquote(url.path)
            if any(ord(ch) < 0x20 for ch in path):  # %00 and other control characters
                self._send(400, b"bad path", "text/plain; charset=utf-8")
                return
            snap = preview.snapshot
            if path == "/__reportc/wait":
                try:
                    since = int(parse_qs(url.query).get("generation", ["0"])[0])
                except ValueError:
                    since = 0
                generation = preview.wait(since)
                body = json.dumps({"generation": generation}).encode()
                self._send(200, body, "application/json")
                return
            if path in ("/", "/index.html"):
                self._html(index_page(snap))
                return
            stem, dot, kind = path[1:].rpartition(".")
            if dot and "/" not in stem and kind in ("html", "pdf", "email"):
                self._report(snap, stem, kind)
                return
            self._static(path)

        def _report(self, snap: Snapshot, name: str, kind: str) -> None:
            page = snap.pages.get(name)
            if snap.problems:
                self._html(index_page(snap))
                return
            if page is None:
                body = "<p>No report named '" + html.escape(name) + "'.</p>"
                self._html(_frame("not found", body, snap), HTTPStatus.NOT_FOUND)
                return
            if page.problems:
                body = _problems_html(page.problems, f"Report '{name}' does not build")
                self._html(_frame(page.title, body, snap))
                return
            if kind == "html":
                self._html(report_page(snap, page))
                return
            try:
                if kind == "pdf":
                    self._send(200, preview.pdf(snap, name), "application/pdf")
                else:
                    self._html(email_page(snap, name, preview.email(snap, name)))
            except ReportcError as exc:
                heading = f"Report '{name}': the {kind.upper()} could not be made"
                self._html(_frame(page.title, _problems_html(exc.problems, heading), snap))

        def _static(self, path: str) -> None:
            root = preview.root.resolve()
            target = (root / path.lstrip("/")).resolve()
            kind = STATIC_TYPES.get(target.suffix.lower())
            # Only fonts and images, only inside the project, never hidden files.
            inside = target.is_relative_to(root) and not any(
                part.startswith(".") for part in target.relative_to(root).parts
            )
            if kind is None or not inside or not target.is_file():
                self._send(404, b"not found", "text/plain; charset=utf-8")
                return
            self._send(200, target.read_bytes(), kind)

    return Handler


class _BoundedServer(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS at once; more are closed at once, not queued as threads."""

    daemon_threads = True
    request_queue_size = 128  # a burst of connections waits in the backlog, not in SYN retries

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that misbehaves or goes away: no traceback on the console

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class PreviewServer:
    """The preview's HTTP server and watcher thread, on 127.0.0.1."""

    def __init__(
        self,
        preview: Preview,
        port: int = 0,
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.preview = preview
        handler = _handler(preview)
        handler.timeout = idle_seconds
        self.httpd = _BoundedServer(("127.0.0.1", port), handler, max_connections)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> PreviewServer:
        for target in (self.httpd.serve_forever, self.preview.watch):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        """Serve in a thread and rebuild in this (main) thread, where a rebuild that
        loops can be stopped by its time limit."""
        server = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        server.start()
        try:
            self.preview.watch()
        finally:
            self.preview.stop()
            self.httpd.shutdown()

    def stop(self) -> None:
        self.preview.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        # Let a rebuild in progress finish: a thread killed inside DuckDB or vl-convert at
        # interpreter exit aborts the process.
        for thread in self._threads:
            thread.join(timeout=120)

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
