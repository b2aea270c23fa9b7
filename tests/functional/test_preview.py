"""reportc preview: a real HTTP server on loopback, driven by headless Chromium."""

from __future__ import annotations

import io
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from reportc.config import load_project
from reportc.preview import Preview
from reportc.preview_server import PreviewServer
from tests.conftest import MakeProject

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _until(condition: Any, seconds: float = 30.0) -> None:
    """Poll from Python (Playwright's own string predicates need eval, which the
    preview's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the page is reloading under us
            pass
        time.sleep(0.2)
    raise AssertionError("the page did not reach the expected state in time")


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _preview_process(root: Path, *args: str, sigint_ignored: bool = False) -> Any:
    """``reportc preview --port 0`` in a subprocess, through the real entry point
    (optionally started with SIGINT ignored, as a script's background job is)."""
    import subprocess
    import sys

    code = "import sys; from reportc.cli import run; sys.argv[0] = 'reportc'; run()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "-C", str(root), "preview", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )


@pytest.fixture
def served(make_project: MakeProject) -> Iterator[tuple[Path, PreviewServer]]:
    root = make_project({"assets/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"})
    (root / ".env").write_text("SECRET=do-not-serve\n")
    state = Preview(root, lambda: load_project(root, environ={}), interval=0.1)
    with PreviewServer(state, 0) as server:
        yield root, server


def test_preview_serves_reports_and_rebuilds_on_change(
    served: tuple[Path, PreviewServer],
) -> None:
    root, server = served
    assert server.url.startswith("http://127.0.0.1:")
    status, body, _ = _get(server.url)
    assert status == 200 and b'href="/ceo.html"' in body
    status, body, kind = _get(server.url + "ceo.pdf")
    assert (status, kind) == (200, "application/pdf")
    assert "CEO Report" in PdfReader(io.BytesIO(body)).pages[0].extract_text()
    status, body, _ = _get(server.url + "ceo.email")
    text = body.decode()
    assert "CEO Report — October 2026" in text and "ceo@example.com" in text
    assert "Example Org CEO Report October 2026.pdf" in text
    # only fonts and images inside the project, never data, config or hidden files
    assert _get(server.url + "assets/logo.svg")[0] == 200
    for path in ("reports.yaml", "data/sales.csv", ".env", "../../etc/passwd", "nope.html"):
        assert _get(server.url + path)[0] == 404, path
    # another host name pointed at 127.0.0.1 (DNS rebinding) is refused
    rebound = urllib.request.Request(server.url, headers={"Host": "evil.example.com"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=10)
    assert refused.value.code == 403

    generation = server.preview.snapshot.generation
    _edit(root / "reports.yaml", "title: CEO Report", "title: Chief Executive Brief")
    assert server.preview.wait(generation, timeout=20) > generation
    assert b"Chief Executive Brief" in _get(server.url + "ceo.html")[1]


def test_a_bad_edit_is_shown_in_the_page_and_the_server_keeps_going(
    served: tuple[Path, PreviewServer],
) -> None:
    root, server = served
    config = root / "reports.yaml"
    good = config.read_text()
    generation = server.preview.snapshot.generation
    config.write_text(good.replace("    sql: SELECT sum(amount) FROM sales", "    sql: [oops"))
    generation = server.preview.wait(generation, timeout=20)
    status, body, _ = _get(server.url + "ceo.html")
    assert status == 200
    assert b"The project does not build" in body
    assert b"reports.yaml:16:11: YAML syntax error" in body  # with its position
    config.write_text(good)
    assert server.preview.wait(generation, timeout=20) > generation
    assert b"Sales were $2,500" in _get(server.url + "ceo.html")[1]


def _browser() -> Any:
    """Playwright's sync API, driving Debian's Chromium (CI must have both)."""
    missing = ""
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        missing = missing or "playwright is not installed (pip install '.[test]')"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing + "; .ci/run installs both")
        pytest.skip(missing)
    return sync_api


@pytest.mark.slow
def test_preview_in_headless_chromium_follows_a_yaml_edit(
    served: tuple[Path, PreviewServer],
) -> None:
    sync_api = _browser()
    root, server = served
    config = root / "reports.yaml"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()  # under the preview's own CSP: no eval in the page
            page.goto(server.url + "ceo.html")
            assert page.title() == "CEO Report — October 2026"
            assert "CEO Report" in page.locator("h1").first.inner_text()
            assert "Sales were $2,500 from 3 orders." in page.inner_text("body")

            # Edit the YAML: the page reloads itself with the new title.
            _edit(config, "title: CEO Report", "title: Board Pack")
            _until(lambda: page.title().startswith("Board Pack"))
            assert "Board Pack" in page.locator("h1").first.inner_text()

            # Break it: the problem and its position appear in the page, not a crash.
            _edit(config, "    format: integer", "    format: integr")
            # (the file may be caught half-written first; the next poll rebuilds again)
            _until(
                lambda: (
                    page.locator("#problems").count() > 0
                    and "metrics.orders.format" in page.inner_text("#problems")
                )
            )
            problems = page.inner_text("#problems")
            assert "reports.yaml:19:13: metrics.orders.format:" in problems

            # Fix it: back to the report.
            _edit(config, "    format: integr", "    format: integer")
            _until(lambda: page.title().startswith("Board Pack"))
            # The index and the email view render too.
            page.goto(server.url)
            assert page.locator("a[href='/ceo.pdf']").count() == 1
            page.goto(server.url + "ceo.email")
            assert "Board Pack — October 2026" in page.inner_text("dl")
            start = time.monotonic()
            frame = page.frame_locator("iframe")
            assert "Board Pack" in frame.locator("body").inner_text(timeout=10_000)
            assert time.monotonic() - start < 10
        finally:
            browser.close()


@pytest.mark.parametrize("sigint_ignored", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_the_preview_command_listens_on_loopback_and_stops_on_ctrl_c(
    make_project: MakeProject, sigint_ignored: bool
) -> None:
    import signal

    root = make_project()
    proc = _preview_process(root, sigint_ignored=sigint_ignored)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Preview on http://127.0.0.1:"), line
        url = line.split()[2]
        status, body, _ = _get(url)
        assert status == 200 and b"CEO Report" in body
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "build 1: 1 report(s)" in err


def test_an_unexpected_failure_is_shown_in_the_page_too(make_project: MakeProject) -> None:
    root = make_project()
    calls = {"n": 0}

    def load() -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return load_project(root, environ={})

    state = Preview(root, load, interval=0.1)  # type: ignore[arg-type]
    (root / "data/sales.csv").write_text("region,amount\nNorth,1\n")
    assert state.check()
    assert (
        "unexpected error while building: RuntimeError: boom" in state.snapshot.problems[0].message
    )
    (root / "data/sales.csv").write_text("region,amount\nNorth,2\n")
    assert state.check() and not state.snapshot.problems


def test_the_index_says_which_reports_a_check_blocks(make_project: MakeProject) -> None:
    from reportc.preview_server import index_page

    root = make_project()
    config = root / "reports.yaml"
    config.write_text(
        config.read_text().replace(
            "    path: data/sales.csv\n", "    path: data/sales.csv\n    checks: {min_rows: 10}\n"
        )
    )
    state = Preview(root, lambda: load_project(root, environ={}))
    page = index_page(state.snapshot)
    assert "blocked</span>: source &#x27;sales&#x27; has 3 rows, fewer than 10" in page


@pytest.mark.slow
def test_idle_connections_are_closed_and_capped(make_project: MakeProject) -> None:
    import socket
    import threading

    root = make_project()
    state = Preview(root, lambda: load_project(root, environ={}), interval=0.1)
    with PreviewServer(state, 0, idle_seconds=0.5, max_connections=8) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
        time.sleep(0.3)
        assert threading.active_count() - before <= 8  # not one thread per socket
        time.sleep(1.0)
        for sock in idle:
            sock.settimeout(2)
            assert sock.recv(1) == b""  # closed by the server
            sock.close()
        assert threading.active_count() - before <= 2
        status, body, _ = _get(server.url)  # serving again once the idle ones are gone
        assert status == 200 and b"CEO Report" in body
        status, body, _ = _get(server.url + "a%00b.html")
        assert status == 400 and body == b"bad path"
        status, _, _ = _get(server.url + "ceo.html")
        assert status == 200


@pytest.mark.slow
def test_a_rebuild_that_loops_is_stopped_and_the_next_edit_picked_up(
    make_project: MakeProject,
) -> None:
    import signal

    root = make_project()
    proc = _preview_process(root, "--rebuild-timeout", "2")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[2]
        loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        _edit(root / "reports.yaml", 'text: "Sales were', f'text: "{loop}Sales were')
        deadline = time.monotonic() + 30
        body = b""
        while time.monotonic() < deadline:
            _, body, _ = _get(url + "ceo.html")
            if b"took longer than 2 s and was stopped" in body:
                break
            time.sleep(0.3)
        assert b"the rebuild took longer than 2 s and was stopped" in body
        _edit(root / "reports.yaml", loop, "")
        while time.monotonic() < deadline + 15:
            _, body, _ = _get(url + "ceo.html")
            if b"Sales were" in body:
                break
            time.sleep(0.3)
        assert b"Sales were $2,500" in body
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err


def test_pages_forbid_remote_fetches(served: tuple[Path, PreviewServer]) -> None:
    _, server = served
    with urllib.request.urlopen(server.url + "ceo.html", timeout=30) as r:
        policy = r.headers.get("Content-Security-Policy", "")
        body = r.read()
    assert policy.startswith("default-src 'none'")
    assert "http" not in policy and "script-src 'unsafe-inline'" in policy
    assert b'http-equiv="Content-Security-Policy"' not in body  # the report's own one is swapped
