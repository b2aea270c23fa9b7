"""Schedules: when each report is sent, and ready-to-install definitions for it.

A schedule is a cron expression plus an IANA time zone, on the project (all
reports) or on a report. ``reportc schedule`` lists the next runs;
``--emit crontab|systemd|eventbridge`` prints definitions that run
``reportc send`` for each report at its time. Cron's five fields are translated
to systemd ``OnCalendar`` and EventBridge ``cron()`` forms; combinations that
those cannot express the same way (both day-of-month and day-of-week
restricted, which cron ORs) are refused with a clear message.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from .config.model import Project, ScheduleSpec
from .errors import ConfigError, Problem

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


@dataclass(frozen=True)
class Planned:
    report: str
    schedule: ScheduleSpec
    next_runs: tuple[dt.datetime, ...]


def plan(project: Project, now: dt.datetime, count: int = 1) -> list[Planned]:
    """The next ``count`` runs of every scheduled report, in the schedule's zone."""
    from croniter import croniter

    out = []
    for name, report in project.personas.items():
        sched = report.schedule
        if sched is None or not report.send:
            continue
        it = croniter(sched.cron, now.astimezone(ZoneInfo(sched.timezone)))
        runs = tuple(it.get_next(dt.datetime) for _ in range(count))
        out.append(Planned(name, sched, runs))
    return out


def running_executable(argv0: str = "") -> tuple[str, ...]:
    """How to run this very reportc from cron or systemd, which know no venv and no
    PATH: the absolute path of the ``reportc`` script that is running, else this
    Python with ``-m reportc``."""
    if argv0 and os.path.basename(argv0) == "reportc" and os.path.isfile(argv0):
        return (os.path.abspath(argv0),)
    return (os.path.abspath(sys.executable), "-m", "reportc")


def _command(project: Project, report: str, executable: Sequence[str]) -> list[str]:
    return [*executable, "-C", str(project.root), "send", "--persona", report]


def emit_crontab(project: Project, executable: Sequence[str]) -> str:
    lines = [
        f"# reportc schedules for {project.organisation} — install with 'crontab -e'",
        "# (CRON_TZ needs cronie or a cron that supports it)",
    ]
    by_zone: dict[str, list[str]] = {}
    for name, report in project.personas.items():
        if report.schedule is None or not report.send:
            continue
        command = " ".join(shlex.quote(p) for p in _command(project, name, executable))
        by_zone.setdefault(report.schedule.timezone, []).append(f"{report.schedule.cron} {command}")
    for zone, entries in by_zone.items():
        lines.append(f"CRON_TZ={zone}")
        lines.extend(entries)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Fields:
    """A cron expression as explicit sets (None: every value), weekdays 0 = Sunday."""

    minute: tuple[int, ...] | None
    hour: tuple[int, ...] | None
    dom: tuple[int, ...] | None
    month: tuple[int, ...] | None
    dow: tuple[int, ...] | None

    @classmethod
    def parse(cls, cron: str) -> Fields:
        """Names (MON-FRI, JAN), ranges, lists and steps, expanded by croniter. Cron
        runs a job when either day field matches if both are restricted; systemd and
        EventBridge cannot say that, so it is refused."""
        from croniter import croniter

        raw = cron.split()
        if len(raw) != 5:
            raise ValueError("a cron expression has five fields")
        if raw[2] != "*" and raw[4] != "*":
            raise ValueError("both day of month and day of week are restricted")
        sets: list[tuple[int, ...] | None] = []
        for values in croniter(cron).expanded:
            if values == ["*"]:
                sets.append(None)
            elif all(isinstance(v, int) for v in values):
                sets.append(tuple(sorted({int(v) for v in values})))
            else:
                raise ValueError(f"'{values}' is not a plain cron field")
        minute, hour, dom, month, dow = sets
        if dow is not None:
            dow = tuple(sorted({d % 7 for d in dow}))
        return cls(minute, hour, dom, month, dow)


def _progression(values: Sequence[int], high: int) -> tuple[int, int] | None:
    """(start, step) when ``values`` are start, start+step, ... up to ``high``."""
    if len(values) < 3:
        return None
    step = values[1] - values[0]
    if list(values) == list(range(values[0], high + 1, step)):
        return values[0], step
    return None


def _runs(values: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _field(values: tuple[int, ...] | None, high: int, to: str, names: Sequence[str] = ()) -> str:
    """One field as a list of values, ``a<to>b`` ranges and ``start/step`` runs."""
    if values is None:
        return "*"
    stepped = None if names else _progression(values, high)
    if stepped:
        return f"{stepped[0]}/{stepped[1]}"
    parts = []
    for a, b in _runs(values):
        first, last = (names[a], names[b]) if names else (str(a), str(b))
        parts.append(
            first if a == b else (f"{first},{last}" if b == a + 1 else f"{first}{to}{last}")
        )
    return ",".join(parts)


def on_calendar(cron: str, timezone: str) -> str:
    """The systemd ``OnCalendar=`` form of a cron expression in a time zone."""
    f = Fields.parse(cron)
    weekday = ""
    if f.dow is not None:  # systemd weekday ranges run Mon..Sun: keep Sunday apart
        days = [d for d in f.dow if d]
        weekday = (
            ",".join(
                ([_field(tuple(days), 6, "..", DAYS)] if days else [])
                + (["Sun"] if 0 in f.dow else [])
            )
            + " "
        )
    date = f"*-{_field(f.month, 12, '..')}-{_field(f.dom, 31, '..')}"
    return f"{weekday}{date} {_field(f.hour, 23, '..')}:{_field(f.minute, 59, '..')}:00 {timezone}"


def eventbridge_cron(cron: str) -> str:
    """The EventBridge ``cron()`` form: weekdays by name (EventBridge counts SUN=1), and
    ``?`` in whichever day field cron leaves open."""
    f = Fields.parse(cron)
    upper = tuple(d.upper() for d in DAYS)
    dom = _field(f.dom, 31, "-") if f.dow is None else "?"
    dow = "?" if f.dow is None else _field(f.dow, 6, "-", upper)
    return (
        f"cron({_field(f.minute, 59, '-')} {_field(f.hour, 23, '-')} {dom} "
        f"{_field(f.month, 12, '-')} {dow} *)"
    )


def emit_systemd(project: Project, executable: Sequence[str]) -> str:
    units = []
    for name, report in project.personas.items():
        sched = report.schedule
        if sched is None or not report.send:
            continue
        try:
            calendar = on_calendar(sched.cron, sched.timezone)
        except ValueError as exc:
            raise ConfigError(
                Problem(
                    f"report '{name}': cron '{sched.cron}' has no systemd equivalent ({exc})",
                    report.location,
                    hint="use crontab or eventbridge, or restrict only one "
                    "of day-of-month and day-of-week",
                )
            ) from None
        command = " ".join(shlex.quote(p) for p in _command(project, name, executable))
        units.append(
            f"# /etc/systemd/system/reportc-{name}.service\n"
            f"[Unit]\nDescription=Send the {report.title} (reportc)\n\n"
            f"[Service]\nType=oneshot\nWorkingDirectory={project.root}\n"
            f"ExecStart={command}\n\n"
            f"# /etc/systemd/system/reportc-{name}.timer\n"
            f"[Unit]\nDescription=When to send the {report.title}\n\n"
            f"[Timer]\nOnCalendar={calendar}\nPersistent=true\n\n"
            f"[Install]\nWantedBy=timers.target\n"
        )
    return "\n".join(units)


#: where the container image (Dockerfile) expects the project to be mounted
CONTAINER_PROJECT = "/project"


def _eventbridge_target(env: Mapping[str, str], report: str) -> dict[str, Any]:
    """The schedule's target: an ECS cluster runs the reportc image as a task (the
    task definition is required: EventBridge refuses an ECS target without it), any
    other target gets the command as its input."""
    target = env.get("REPORTC_SCHEDULE_TARGET_ARN", "arn:aws:ecs:REGION:ACCOUNT:cluster/CLUSTER")
    role = env.get("REPORTC_SCHEDULE_ROLE_ARN", "arn:aws:iam::ACCOUNT:role/reportc-scheduler")
    project = env.get("REPORTC_SCHEDULE_PROJECT_DIR", CONTAINER_PROJECT)
    args = ["-C", project, "send", "--persona", report]
    out: dict[str, Any] = {
        "Arn": target,
        "RoleArn": role,
        "RetryPolicy": {"MaximumRetryAttempts": 0},
    }
    if ":ecs:" not in target:
        out["Input"] = json.dumps({"command": ["reportc", *args]})
        return out
    container = env.get("REPORTC_SCHEDULE_CONTAINER", "reportc")
    ecs: dict[str, Any] = {
        "TaskDefinitionArn": env.get(
            "REPORTC_SCHEDULE_TASK_DEFINITION_ARN",
            "arn:aws:ecs:REGION:ACCOUNT:task-definition/reportc",
        ),
        "TaskCount": 1,
        "LaunchType": "FARGATE",
    }
    subnets = [s for s in env.get("REPORTC_SCHEDULE_SUBNETS", "").split(",") if s.strip()]
    if subnets:
        ecs["NetworkConfiguration"] = {
            "awsvpcConfiguration": {"Subnets": [s.strip() for s in subnets]}
        }
    out["EcsParameters"] = ecs
    # The image's entrypoint is reportc (Dockerfile): the override gives its arguments.
    out["Input"] = json.dumps({"containerOverrides": [{"name": container, "command": args}]})
    return out


def emit_eventbridge(project: Project, env: Mapping[str, str]) -> str:
    """EventBridge Scheduler definitions (the CreateSchedule API's input, as JSON)."""
    schedules: list[dict[str, Any]] = []
    for name, report in project.personas.items():
        sched = report.schedule
        if sched is None or not report.send:
            continue
        try:
            expression = eventbridge_cron(sched.cron)
        except ValueError as exc:
            raise ConfigError(
                Problem(
                    f"report '{name}': cron '{sched.cron}' has no EventBridge equivalent ({exc})",
                    report.location,
                    hint="use crontab, or restrict only one of day-of-month and day-of-week",
                )
            ) from None
        schedules.append(
            {
                "Name": f"reportc-{name}",
                "Description": f"Send the {report.title}",
                "ScheduleExpression": expression,
                "ScheduleExpressionTimezone": sched.timezone,
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "State": "ENABLED",
                "Target": _eventbridge_target(env, name),
            }
        )
    return json.dumps({"Schedules": schedules}, indent=2) + "\n"


#: what ``reportc schedule --emit`` can print
EMITTERS = ("crontab", "systemd", "eventbridge")


def emit_schedule(project: Project, kind: str, executable: Sequence[str] | None = None) -> str:
    """Ready-to-install definitions that run ``reportc send``: crontab, systemd or
    eventbridge. ``executable`` is how crontab and systemd run reportc (default: see
    :func:`running_executable`); an EventBridge target runs the container's own."""
    run = tuple(executable) if executable else running_executable()
    if kind == "crontab":
        return emit_crontab(project, run)
    if kind == "systemd":
        return emit_systemd(project, run)
    if kind == "eventbridge":
        return emit_eventbridge(project, project.env)
    raise ValueError(f"unknown schedule format '{kind}'; use one of: {', '.join(EMITTERS)}")
