"""Schedules: validation, next runs, and crontab / systemd / EventBridge definitions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from reportc import load_project
from reportc.cli import main
from reportc.cron import schedule_problem
from reportc.schedule import (
    _eventbridge_cron,
    _on_calendar,
    emit_crontab,
    emit_eventbridge,
    emit_systemd,
    plan,
)
from tests.conftest import MINIMAL_YAML, MakeProject

SCHEDULED = (
    MINIMAL_YAML.replace(
        'period: "2026-10"\n',
        'period: "2026-10"\nschedule: {cron: "0 7 2 * *", timezone: America/Los_Angeles}\n',
    )
    + """\
  cfo:
    title: CFO Report
    sections: [summary]
    schedule: {cron: "30 6 * * 1-5", timezone: Europe/London}
"""
)


def test_schedule_problems() -> None:
    assert schedule_problem("0 7 * * 1", "UTC") is None
    assert schedule_problem("61 7 * * *", "UTC") == (
        "'61 7 * * *' is not a cron expression (minute hour day month weekday)"
    )
    assert schedule_problem("0 7 * * *", "Mars/Olympus") == (
        "'Mars/Olympus' is not an IANA time zone (e.g. America/Los_Angeles)"
    )


def test_bad_schedule_is_a_positioned_config_error(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SCHEDULED.replace("30 6 * * 1-5", "30 25 * * *")})
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 3
    assert (
        "reports.yaml:45:22: personas.cfo.schedule.cron: '30 25 * * *' is not a cron "
        "expression (minute hour day month weekday)"
    ) in result.output


def test_next_runs_in_each_zone(make_project: MakeProject) -> None:
    project = load_project(make_project({"reports.yaml": SCHEDULED}), environ={})
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)  # a Monday
    planned = {p.report: p for p in plan(project, now, count=2)}
    ceo = [r.isoformat() for r in planned["ceo"].next_runs]
    assert ceo == ["2026-12-02T07:00:00-08:00", "2027-01-02T07:00:00-08:00"]
    cfo = [r.isoformat() for r in planned["cfo"].next_runs]
    assert cfo == ["2026-12-01T06:30:00+00:00", "2026-12-02T06:30:00+00:00"]


def test_crontab(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SCHEDULED})
    text = emit_crontab(load_project(root, environ={}))
    assert "CRON_TZ=America/Los_Angeles\n0 7 2 * * reportc -C " in text
    assert f"CRON_TZ=Europe/London\n30 6 * * 1-5 reportc -C {root} send --persona cfo" in text


@pytest.mark.parametrize(
    ("cron", "calendar"),
    [
        ("0 7 2 * *", "*-*-2 7:0:00 UTC"),
        ("30 6 * * 1-5", "Mon..Fri *-*-* 6:30:00 UTC"),
        ("*/15 9-17 * * 1,3", "Mon,Wed *-*-* 9..17:0/15:00 UTC"),
        ("0 0 1 1,7 *", "*-1,7-1 0:0:00 UTC"),
    ],
)
def test_systemd_calendar(cron: str, calendar: str) -> None:
    assert _on_calendar(cron, "UTC") == calendar


@pytest.mark.parametrize(
    ("cron", "expression"),
    [
        ("0 7 2 * *", "cron(0 7 2 * ? *)"),
        ("30 6 * * 1-5", "cron(30 6 ? * MON-FRI *)"),
        ("0 8 * * 0,6", "cron(0 8 ? * SUN,SAT *)"),
    ],
)
def test_eventbridge_expression(cron: str, expression: str) -> None:
    assert _eventbridge_cron(cron) == expression


def test_systemd_and_eventbridge_definitions(make_project: MakeProject) -> None:
    project = load_project(make_project({"reports.yaml": SCHEDULED}), environ={})
    units = emit_systemd(project)
    assert "OnCalendar=Mon..Fri *-*-* 6:30:00 Europe/London" in units
    assert "ExecStart=reportc -C" in units and "send --persona cfo" in units
    rules = json.loads(emit_eventbridge(project, {"REPORTC_SCHEDULE_TARGET_ARN": "arn:t"}))
    cfo = next(s for s in rules["Schedules"] if s["Name"] == "reportc-cfo")
    assert cfo["ScheduleExpression"] == "cron(30 6 ? * MON-FRI *)"
    assert cfo["ScheduleExpressionTimezone"] == "Europe/London"
    assert cfo["Target"]["Arn"] == "arn:t"
    assert json.loads(cfo["Target"]["Input"])["command"][-3:] == ["send", "--persona", "cfo"]


def test_both_day_fields_have_no_systemd_equivalent(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SCHEDULED.replace("30 6 * * 1-5", "0 6 1 * 1")})
    result = CliRunner().invoke(main, ["-C", str(root), "schedule", "--emit", "systemd"])
    assert result.exit_code == 3
    assert (
        "has no systemd equivalent (both day of month and day of week are restricted)"
        in result.output
    )
    crontab = CliRunner().invoke(main, ["-C", str(root), "schedule", "--emit", "crontab"])
    assert crontab.exit_code == 0 and "0 6 1 * 1 reportc" in crontab.output


def test_schedule_command_lists_next_runs(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SCHEDULED})
    result = CliRunner().invoke(main, ["-C", str(root), "schedule"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ceo          0 7 2 * *        America/Los_Angeles    next: ")
    assert lines[1].startswith("cfo          30 6 * * 1-5     Europe/London          next: ")
