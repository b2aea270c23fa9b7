"""The exactly-once promises on both ledgers: SQLite on one disk, and PostgreSQL shared
by several hosts (``delivery.ledger: ${LEDGER_URL}``), on the real server that
``.ci/run`` starts.

Each test runs ``reportc send`` as separate processes against a real aiosmtpd server:
killed with -9 mid-send and run again; two at once (on PostgreSQL, from two copies of
the project, as two hosts would: only the database's advisory lock stands between
them); and suppression recorded by one host honoured by another.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from reportc import load_project
from reportc.delivery import Ledger
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject, SmtpSink
from tests.functional.test_exactly_once import parse

URL_VAR = "REPORTC_TEST_POSTGRES_URL"
EVERY_RECIPIENT = {
    ("ceo", "ceo@example.com"): 1,
    ("ceo", "audit@example.org"): 1,
    ("cfo", "cfo@example.com"): 1,
    ("cfo", "ceo@example.com"): 1,
    ("cfo", "board@example.org"): 1,
    ("cfo", "audit@example.org"): 1,
    ("cmo", "cmo@example.com"): 1,
    ("cmo", "audit@example.org"): 1,
}


@contextlib.contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (dropped afterwards);
    skipped without a server, except in CI, where .ci/run starts one."""
    base = os.environ.get(URL_VAR)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{URL_VAR} is not set: .ci/run must start PostgreSQL")
        pytest.skip(f"set {URL_VAR} to run the PostgreSQL tests")
    import psycopg

    schema = f"ledger_{secrets.token_hex(4)}"
    libpq = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """'' for the SQLite ledger; else a PostgreSQL URL with a fresh schema."""
    if request.param == "sqlite":
        yield ""
        return
    with fresh_pg_schema() as url:
        yield url


def _yaml(port: int, ledger: str) -> str:
    return SEND_YAML.replace(
        "  max_attempts: 4\n",
        f"  max_attempts: 4\n  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {port}, "
        "security: none}\n" + ("  ledger: ${LEDGER_URL}\n" if ledger else ""),
    )


def _command(root: Path) -> list[str]:
    return [sys.executable, "-c", "from reportc.cli import run; run()", "-C", str(root), "send"]


def _env(ledger: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "LEDGER_URL": ledger}


def _counts(sink: SmtpSink) -> Counter[tuple[str, str]]:
    return Counter(
        (str(parse(data)["X-Reportc-Report"]), r) for _, rcpts, data in sink.messages for r in rcpts
    )


@pytest.mark.slow
def test_kill_9_mid_send_then_resume_sends_each_recipient_once(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int], ledger_url: str
) -> None:
    sink, port = smtp_server
    root = make_project({"reports.yaml": _yaml(port, ledger_url)})
    env = _env(ledger_url)
    proc = subprocess.Popen(
        _command(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )

    def kill_on_second(count: int) -> None:
        if count == 2:  # the server has the 2nd message; the sender never hears back
            os.kill(proc.pid, signal.SIGKILL)

    sink.on_message = kill_on_second
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    sink.on_message = None
    again = subprocess.run(_command(root), capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 1, again.stdout + again.stderr  # the uncertain one is reported
    assert "uncertain  cfo" in again.stderr
    assert _counts(sink) == EVERY_RECIPIENT
    third = subprocess.run(_command(root), capture_output=True, text=True, env=env, timeout=120)
    assert len(sink.messages) == 3, third.stdout + third.stderr


@pytest.mark.slow
def test_two_senders_at_once_send_each_recipient_once(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int], ledger_url: str
) -> None:
    """On PostgreSQL the two run from two copies of the project (two hosts: no shared
    file lock); on SQLite from one folder (one host)."""
    sink, port = smtp_server
    root = make_project({"reports.yaml": _yaml(port, ledger_url)})
    roots = [root, root]
    if ledger_url:
        other = root.parent / "other-host"
        shutil.copytree(root, other)
        roots = [root, other]
    env = _env(ledger_url)
    started, tried = threading.Event(), threading.Event()

    def hold(count: int) -> None:
        # The first sender (and its lock) waits on its first message until the second
        # has tried: a fixed delay lost the race on a slow machine, where the second
        # started only after the first had sent everything.
        started.set()
        tried.wait(120)

    sink.on_message = hold
    first = subprocess.Popen(_command(roots[0]), stderr=subprocess.PIPE, text=True, env=env)
    assert started.wait(60)
    try:
        second = subprocess.run(
            _command(roots[1]), capture_output=True, text=True, env=env, timeout=120
        )
    finally:
        tried.set()
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.returncode == 6, second.stdout + second.stderr
    assert "another 'reportc send' is running for this project" in second.stderr
    sink.on_message = None
    assert _counts(sink) == EVERY_RECIPIENT
    later = subprocess.run(_command(roots[1]), capture_output=True, text=True, env=env)
    assert later.returncode == 0 and len(sink.messages) == 3  # nothing twice, from either
    status = subprocess.run(
        [*_command(roots[1])[:-1], "status"], capture_output=True, text=True, env=env
    )
    assert status.returncode == 0, status.stderr
    sent = [line.split()[:4] for line in status.stdout.splitlines()[1:]]
    assert ["cfo", "c***@example.com", "to", "sent"] in sent and len(sent) == 8


@pytest.mark.slow
def test_a_suppression_recorded_by_one_host_is_honoured_by_another(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int], ledger_url: str
) -> None:
    if not ledger_url:
        pytest.skip("a SQLite ledger belongs to one host")
    sink, port = smtp_server
    root = make_project({"reports.yaml": _yaml(port, ledger_url)})
    other = root.parent / "other-host"
    shutil.copytree(root, other)
    environ = {"LEDGER_URL": ledger_url}
    ledger = Ledger(load_project(root, environ=environ).delivery.ledger, lambda: FIXED_NOW)
    try:
        ledger.suppress("board@example.org", "bounce: permanent", FIXED_NOW.isoformat())
    finally:
        ledger.close()
    result = subprocess.run(_command(other), capture_output=True, text=True, env=_env(ledger_url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("cfo", "board@example.org") not in _counts(sink)
    assert _counts(sink)[("cfo", "cfo@example.com")] == 1


@pytest.mark.slow
def test_the_ledger_url_is_never_shown(make_project: MakeProject, ledger_url: str) -> None:
    if not ledger_url:
        pytest.skip("about the PostgreSQL URL")
    wrong = ledger_url.replace("127.0.0.1:5432", "127.0.0.1:1").replace(
        "reportc:reportc@", "reportc:s3cret-pw@"
    )
    root = make_project({"reports.yaml": _yaml(25, "yes")})
    result = subprocess.run(_command(root), capture_output=True, text=True, env=_env(wrong))
    assert result.returncode == 6, result.stdout + result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "the delivery ledger cannot be used" in result.stderr
