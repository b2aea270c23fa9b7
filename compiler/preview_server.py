"""The live preview's HTTP side: the pages (index, report, email view), and a bounded
server on 127.0.0.1 (at most MAX_CONNECTIONS at once, idle connections closed, a strict
Content-Security-Policy on every page) over a :class:`reportc.preview.Preview` state."""

from __future__ import annotations

import contextlib
import email
import html
import json
import re
import threading
from email import policy
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import Problem, ReportcError
from .preview import Page, Preview, Snapshot
from .resources import builtin_dir

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


#: connections served at once; seconds an idle connection is kept
MAX_CONNECTIONS = 64
IDLE_SECONDS = 10.0


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


class _Handler(BaseHTTPRequestHandler):
    """One request: the index, a report (HTML, PDF, email view), the reload long-poll,
    or a font or image of the project; only for this machine's own host names."""

    server_version = "reportc-preview"
    #: the preview state served (set per server by :func:`_handler`)
    preview: Preview
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
        snap = self.preview.snapshot
        if path == "/__reportc/wait":
            self._wait(url.query)
            return
        if path in ("/", "/index.html"):
            self._html(index_page(snap))
            return
        stem, dot, kind = path[1:].rpartition(".")
        if dot and "/" not in stem and kind in ("html", "pdf", "email"):
            self._report(snap, stem, kind)
            return
        self._static(path)

    def _wait(self, query: str) -> None:
        """Long-poll: answer when a build newer than ``generation`` is ready."""
        try:
            since = int(parse_qs(query).get("generation", ["0"])[0])
        except ValueError:
            since = 0
        generation = self.preview.wait(since)
        self._send(200, json.dumps({"generation": generation}).encode(), "application/json")

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
                self._send(200, self.preview.pdf(snap, name), "application/pdf")
            else:
                self._html(email_page(snap, name, self.preview.email(snap, name)))
        except ReportcError as exc:
            heading = f"Report '{name}': the {kind.upper()} could not be made"
            self._html(_frame(page.title, _problems_html(exc.problems, heading), snap))

    def _static(self, path: str) -> None:
        root = self.preview.root.resolve()
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


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    """The handler class of one server, bound to its preview state."""
    return type("Handler", (_Handler,), {"preview": preview})


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
