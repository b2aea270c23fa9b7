"""Diagnostics for unattended runs: -q, -v, --log-format json, masking, the progress bar.

The promises: ``-q`` prints nothing when all is well and still shows every error;
``--log-format json`` writes only JSON lines to stderr, each with the run id, which is
the id the ledger records; addresses, URL passwords and secret values never appear in
a record at any level; a terminal gets one redrawn bar, a pipe one line per report.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import reportc
from reportc.cli import main
from reportc.cli.progress import Bar, colour_allowed
from tests.conftest import MINIMAL_YAML, SEND_YAML, MakeProject, SmtpSink


@pytest.fixture(autouse=True)
def _no_leftover_handler() -> Iterator[None]:
    yield
    logger = logging.getLogger("reportc")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def _smtp_yaml(port: int) -> str:
    return SEND_YAML.replace(
        "  max_attempts: 4\n",
        f"  max_attempts: 4\n  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {port}, "
        "security: none}\n",
    )


def _json_lines(stderr: str) -> list[dict[str, object]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_quiet_prints_nothing_when_all_is_well(make_project: MakeProject) -> None:
    root = make_project()
    result = CliRunner().invoke(main, ["-C", str(root), "-q", "build", "--format", "html"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    assert (root / "dist" / "ceo.html").is_file()


def test_quiet_still_shows_every_error(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": MINIMAL_YAML.replace("    type: csv", "    type: xls")})
    result = CliRunner().invoke(main, ["-C", str(root), "-q", "validate"])
    assert result.exit_code == 3
    assert "error: reports.yaml:11:11: sources.sales.type" in result.stderr


def test_verbose_logs_each_report(make_project: MakeProject) -> None:
    root = make_project()
    result = CliRunner().invoke(
        main, ["-C", str(root), "-v", "build", "--format", "html", "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "info: [1/1] report 'ceo': done" in result.stderr


@pytest.mark.slow
def test_json_logs_are_json_lines_with_the_run_id_the_ledger_records(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    root = make_project({"reports.yaml": _smtp_yaml(port)})
    result = CliRunner().invoke(main, ["-C", str(root), "-v", "--log-format", "json", "send"])
    assert result.exit_code == 0, result.stderr
    records = _json_lines(result.stderr)
    run_ids = {r["run_id"] for r in records}
    assert len(run_ids) == 1 and records, records
    sent = [r for r in records if r.get("event") == "sent"]
    assert {r["report"] for r in sent} == {"ceo", "cfo", "cmo"}
    assert len(sink.messages) == 3
    with sqlite3.connect(root / ".reportc" / "ledger.sqlite") as db:
        ledger_runs = {row[0] for row in db.execute("SELECT run_id FROM messages")}
    assert ledger_runs == run_ids
    assert "@example.com" not in result.stderr.replace("***@example.com", "")


def test_json_errors_are_json_lines_too(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": MINIMAL_YAML.replace("    type: csv", "    type: xls")})
    result = CliRunner().invoke(main, ["-C", str(root), "--log-format", "json", "validate"])
    assert result.exit_code == 3
    (record,) = _json_lines(result.stderr)
    assert record["level"] == "error" and "sources.sales.type" in str(record["message"])
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", str(record["run_id"]))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_addresses_and_secrets_are_masked_at_every_level(fmt: str) -> None:
    stream = io.StringIO()
    env = {"SMTP_PASSWORD": "hunter2-very-secret", "HOME": "/home/ops"}
    reportc.configure_logging(
        verbosity=2, fmt=fmt, run_id="R1", stream=stream, secrets=reportc.secret_values(env)
    )
    log = reportc.get_logger("test")
    text = (
        "to jane.doe@example.com via postgresql://app:pg-pass-123@db.example.org/x "
        "with hunter2-very-secret"
    )
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        log.log(level, text, extra={"report": "cfo for jane.doe@example.com"})
    out = stream.getvalue()
    for leaked in ("jane.doe", "pg-pass-123", "hunter2"):
        assert leaked not in out, out
    assert out.count("j***@example.com") == 4 * (1 if fmt == "text" else 2)
    assert out.count("postgresql://app:***@db.example.org/x") == 4


def test_the_env_files_secrets_are_masked_once_the_project_is_loaded(
    make_project: MakeProject,
) -> None:
    root = make_project({"repos.env": "SMTP_PASSWORD=s3cret-from-env-file\n"})
    stream = io.StringIO()
    masker = reportc.configure_logging(verbosity=1, stream=stream)
    from reportc.cli.common import Settings

    Settings(root, "reports.yaml", None, masker=masker).load()
    reportc.get_logger("test").warning("password is s3cret-from-env-file")
    assert stream.getvalue() == "warning: password is ***\n"


def test_the_bar_counts_rates_and_failures() -> None:
    now = [100.0]
    stream = io.StringIO()
    bar = Bar("building", 60, stream=stream, colour=False, clock=lambda: now[0])
    for n in range(30):
        now[0] += 0.5
        bar.advance(failed=n == 3)
    assert bar.line() == "building  [##########----------]  30/60  2.0/s  ETA 0:15  1 failed"
    bar.close()
    assert stream.getvalue().endswith("\n") and "\x1b[2K" in stream.getvalue()
    coloured = Bar("sending", 2, stream=io.StringIO(), colour=True, clock=lambda: now[0])
    coloured.advance(failed=True)
    assert "\x1b[" in coloured.line()


def test_no_color_turns_colour_off() -> None:
    assert not colour_allowed({"NO_COLOR": "1"})
    assert colour_allowed({"NO_COLOR": ""}) and colour_allowed({})


def test_a_terminal_gets_the_bar_a_pipe_gets_lines(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reportc.cli.build as build_cmd

    root = make_project()
    args = ["-C", str(root), "build", "--format", "html", "--jobs", "1", "--force"]
    piped = CliRunner().invoke(main, args)
    assert piped.exit_code == 0 and "building [" not in piped.stderr
    assert "ok      ceo" in piped.stdout
    monkeypatch.setattr(build_cmd, "on_terminal", lambda: True)
    shown = CliRunner(env={"NO_COLOR": "1"}).invoke(main, args)
    assert shown.exit_code == 0, shown.output
    assert "\rbuilding  [####################]  1/1" in shown.stderr.replace("\x1b[2K", "")
    assert "\x1b[31" not in shown.stderr
    assert "ok      ceo" in shown.stdout  # few reports: still listed


def test_a_long_run_on_a_terminal_lists_only_failures(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reportc.cli.build as build_cmd

    monkeypatch.setattr(build_cmd, "on_terminal", lambda: True)
    monkeypatch.setattr(build_cmd, "BRIEF_OVER", 0)
    root = make_project()
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 0
    assert "ok      ceo" not in result.stdout
    assert "1 of 1 report built" in result.stdout
    verbose = CliRunner().invoke(
        main, ["-C", str(root), "-v", "build", "--format", "html", "--force"]
    )
    assert "ok      ceo" in verbose.stdout


def test_the_library_never_configures_logging(make_project: MakeProject, tmp_path: Path) -> None:
    logging.getLogger("reportc").handlers.clear()
    project = reportc.load_project(make_project())
    reportc.build(project, formats=("html",), jobs=1)
    assert logging.getLogger("reportc").handlers == []


@pytest.mark.slow
def test_quiet_send_prints_nothing_and_a_terminal_gets_the_send_bar(
    make_project: MakeProject, smtp_server: tuple[SmtpSink, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reportc.cli.send as send_cmd

    sink, port = smtp_server
    root = make_project({"reports.yaml": _smtp_yaml(port)})
    quiet = CliRunner().invoke(main, ["-C", str(root), "-q", "send", "--persona", "ceo"])
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    assert len(sink.messages) == 1
    monkeypatch.setattr(send_cmd, "on_terminal", lambda: True)
    shown = CliRunner().invoke(main, ["-C", str(root), "send"])
    assert shown.exit_code == 0, shown.stderr
    assert "sending  [####################]  2/2" in shown.stderr.replace("\x1b[2K", "")
    assert len(sink.messages) == 3
