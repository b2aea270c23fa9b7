"""Local stand-ins for chat services, on loopback: a Slack Web API server implementing
the methods reportc calls (files.getUploadURLExternal, the upload URL it hands out,
files.completeUploadExternal, chat.postMessage) to their documented request and response
shapes, and a webhook receiver whose answers a test scripts."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "xoxb-test-token-1234"


@dataclass
class FakeSlack:
    """What the fake Slack received, and how it should answer."""

    port: int = 0
    uploads: dict[str, bytes] = field(default_factory=dict)
    completed: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    #: answer chat.postMessage with this error (e.g. channel_not_found)
    post_error: str = ""
    #: answer this many calls with HTTP 429 first
    rate_limited: int = 0
    #: take chat.postMessage, then drop the connection without an answer
    drop_post: bool = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def answer(self, method: str, args: dict[str, Any], auth: str) -> tuple[int, dict[str, Any]]:
        self.calls.append(method)
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return 429, {"ok": False, "error": "ratelimited"}
        if auth != f"Bearer {TOKEN}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self.uploads) + 1:08d}"
            self.uploads[file_id] = b""
            url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
            return 200, {"ok": True, "upload_url": url, "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(args["files"]) if isinstance(args["files"], str) else args["files"]
            self.completed.append(args)
            return 200, {
                "ok": True,
                "files": [
                    {
                        "id": f["id"],
                        "title": f.get("title", ""),
                        "permalink": f"https://example.slack.com/files/U1/{f['id']}/report.pdf",
                    }
                    for f in files
                ],
            }
        if method == "chat.postMessage":
            if self.post_error:
                return 200, {"ok": False, "error": self.post_error}
            self.posts.append(args)
            ts = f"1764650000.{len(self.posts):06d}"
            return 200, {"ok": True, "channel": args.get("channel"), "ts": ts}
        return 200, {"ok": False, "error": "unknown_method"}


def _args(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
    kind = handler.headers.get("Content-Type", "")
    if "json" in kind:
        query.update(json.loads(body or b"{}"))
    elif body:
        query.update(dict(urllib.parse.parse_qsl(body.decode("utf-8"))))
    return query


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    state = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/upload/"):
                state.uploads[path.rsplit("/", 1)[1]] = body
                self._send(200, b"OK - " + str(len(body)).encode(), "text/plain")
                return
            method = path.removeprefix("/api/")
            if method == "chat.postMessage" and state.drop_post:
                state.calls.append(method)
                state.posts.append(_args(self, body))  # posted, but no one hears it
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, answer = state.answer(
                method, _args(self, body), self.headers.get("Authorization", "")
            )
            self._send(status, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with _serving(Handler) as port:
        state.port = port
        yield state


@dataclass
class Receiver:
    """A webhook: the bodies it received, and the statuses it answers with in turn
    (the last repeats); 0 reads the request and drops the connection unanswered; 1
    reads it and holds the answer (200) until the receiver closes."""

    port: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=lambda: [200])
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T000/B000/secret-hook-token"


@contextmanager
def webhook_receiver(*statuses: int) -> Iterator[Receiver]:
    state = Receiver(statuses=list(statuses or (200,)))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            if status == 0:  # accepted, then the connection drops: no answer
                state.bodies.append(json.loads(body))
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if status == 1:  # taken: the answer waits (a kill may come first)
                state.bodies.append(json.loads(body))
                state.released.wait(60)
                status = 200
            elif status < 300:
                state.bodies.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    with _serving(Handler) as port:
        state.port = port
        try:
            yield state
        finally:
            state.released.set()


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
