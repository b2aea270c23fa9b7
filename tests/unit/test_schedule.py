"""Schedules: validation, next runs, and crontab / systemd / EventBridge definitions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc import load_project, running_executable
from reportc.cli import main
from reportc.cron import schedule_problem
from reportc.schedule import (
    emit_crontab,
    emit_eventbridge,
    emit_systemd,
    eventbridge_cron,
    on_calendar,
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
    text = emit_crontab(load_project(root, environ={}), ("/opt/my venv/bin/reportc",))
    assert "CRON_TZ=America/Los_Angeles\n0 7 2 * * '/opt/my venv/bin/reportc' -C " in text
    assert (
        f"CRON_TZ=Europe/London\n30 6 * * 1-5 '/opt/my venv/bin/reportc' -C {root} send "
        "--persona cfo"
    ) in text


def test_the_emitted_command_is_the_running_executable(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """cron and systemd know no venv: the command is an absolute path."""
    script = tmp_path / "venv" / "bin" / "reportc"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    assert running_executable(str(script)) == (str(script),)
    python = running_executable("/somewhere/reportc/__main__.py")
    assert python[1:] == ("-m", "reportc") and Path(python[0]).is_absolute()
    root = make_project({"reports.yaml": SCHEDULED})
    result = CliRunner().invoke(main, ["-C", str(root), "schedule", "--emit", "systemd"])
    line = next(x for x in result.output.splitlines() if x.startswith("ExecStart="))
    assert Path(line.removeprefix("ExecStart=").split()[0]).is_absolute()


@pytest.mark.parametrize(
    ("cron", "calendar"),
    [
        ("0 7 2 * *", "*-*-2 7:0:00 UTC"),
        ("30 6 * * 1-5", "Mon..Fri *-*-* 6:30:00 UTC"),
        ("*/15 9-17 * * 1,3", "Mon,Wed *-*-* 9..17:0/15:00 UTC"),
        ("0 0 1 1,7 *", "*-1,7-1 0:0:00 UTC"),
        # the cases: a stepped weekday range keeps its step; names are read;
        # steps become systemd's start/step
        ("0 9 * * 1-5/2", "Mon,Wed,Fri *-*-* 9:0:00 UTC"),
        ("0 9 * * MON-FRI", "Mon..Fri *-*-* 9:0:00 UTC"),
        ("5/2 * * * *", "*-*-* *:5/2:00 UTC"),
        ("0 */2 * * *", "*-*-* 0/2:0:00 UTC"),
        ("0 9 * * 0,6", "Sat,Sun *-*-* 9:0:00 UTC"),
        ("0 9 * * 5-7", "Fri,Sat,Sun *-*-* 9:0:00 UTC"),
        ("0 9 1 JAN-MAR *", "*-1..3-1 9:0:00 UTC"),
    ],
)
def test_systemd_calendar(cron: str, calendar: str) -> None:
    assert on_calendar(cron, "UTC") == calendar


@pytest.mark.parametrize(
    ("cron", "expression"),
    [
        ("0 7 2 * *", "cron(0 7 2 * ? *)"),
        ("30 6 * * 1-5", "cron(30 6 ? * MON-FRI *)"),
        ("0 8 * * 0,6", "cron(0 8 ? * SUN,SAT *)"),
        ("0 9 * * 1-5/2", "cron(0 9 ? * MON,WED,FRI *)"),
        ("0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"),
        ("0 9 * * 7", "cron(0 9 ? * SUN *)"),
        ("*/10 * * * *", "cron(0/10 * * * ? *)"),
    ],
)
def test_eventbridge_expression(cron: str, expression: str) -> None:
    assert eventbridge_cron(cron) == expression


def test_systemd_and_eventbridge_definitions(make_project: MakeProject) -> None:
    project = load_project(make_project({"reports.yaml": SCHEDULED}), environ={})
    units = emit_systemd(project, ("/opt/venv/bin/reportc",))
    assert "OnCalendar=Mon..Fri *-*-* 6:30:00 Europe/London" in units
    assert "ExecStart=/opt/venv/bin/reportc -C" in units and "send --persona cfo" in units
    target = "arn:aws:lambda:us-east-1:123456789012:function:reportc"
    rules = json.loads(emit_eventbridge(project, {"REPORTC_SCHEDULE_TARGET_ARN": target}))
    cfo = next(s for s in rules["Schedules"] if s["Name"] == "reportc-cfo")
    assert cfo["ScheduleExpression"] == "cron(30 6 ? * MON-FRI *)"
    assert cfo["ScheduleExpressionTimezone"] == "Europe/London"
    assert cfo["Target"]["Arn"] == target and "EcsParameters" not in cfo["Target"]
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
    assert crontab.exit_code == 0 and "0 6 1 * 1 /" in crontab.output


def test_schedule_command_lists_next_runs(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SCHEDULED})
    result = CliRunner().invoke(main, ["-C", str(root), "schedule"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ceo          0 7 2 * *        America/Los_Angeles    next: ")
    assert lines[1].startswith("cfo          30 6 * * 1-5     Europe/London          next: ")


def _validate_against_botocore(service: str, operation: str, params: Mapping[str, object]) -> None:
    """botocore's own service model and validator, as the SDK checks a call."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_eventbridge_output_is_valid_for_the_scheduler_api(make_project: MakeProject) -> None:
    project = load_project(make_project({"reports.yaml": SCHEDULED}), environ={})
    env = {
        "REPORTC_SCHEDULE_TARGET_ARN": "arn:aws:ecs:us-east-1:123456789012:cluster/reports",
        "REPORTC_SCHEDULE_TASK_DEFINITION_ARN": (
            "arn:aws:ecs:us-east-1:123456789012:task-definition/reportc:3"
        ),
        "REPORTC_SCHEDULE_SUBNETS": "subnet-0abc,subnet-0def",
    }
    for environ in ({}, env):
        for schedule in json.loads(emit_eventbridge(project, environ))["Schedules"]:
            _validate_against_botocore("scheduler", "CreateSchedule", schedule)
            target = schedule["Target"]
            # An ECS target without a task definition is refused by EventBridge.
            assert target["EcsParameters"]["TaskDefinitionArn"].startswith("arn:aws:ecs:")
            override = json.loads(target["Input"])["containerOverrides"][0]
            assert override["name"] == "reportc"
            assert override["command"][:2] == ["-C", "/project"]
    ecs = json.loads(emit_eventbridge(project, env))["Schedules"][0]["Target"]["EcsParameters"]
    assert ecs["NetworkConfiguration"]["awsvpcConfiguration"]["Subnets"] == [
        "subnet-0abc",
        "subnet-0def",
    ]


def test_the_old_ecs_target_is_what_botocore_refuses() -> None:
    """The check above can fail: an ECS target's EcsParameters without its task
    definition is refused by the model."""
    import pytest as _pytest

    bad = {
        "Name": "x",
        "ScheduleExpression": "cron(0 9 ? * MON *)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": "arn:aws:ecs:us-east-1:1:cluster/c",
            "RoleArn": "arn:r",
            "EcsParameters": {},
        },
    }
    with _pytest.raises(AssertionError, match="TaskDefinitionArn"):
        _validate_against_botocore("scheduler", "CreateSchedule", bad)
