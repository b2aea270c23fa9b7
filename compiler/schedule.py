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
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from .config.model import Project, ScheduleSpec
from .errors import ConfigError, Problem

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_FIELD_RE = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")


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


def _command(project: Project, report: str) -> list[str]:
    return ["reportc", "-C", str(project.root), "send", "--persona", report]


def emit_crontab(project: Project) -> str:
    lines = [
        f"# reportc schedules for {project.organisation} — install with 'crontab -e'",
        "# (CRON_TZ needs cronie or a cron that supports it)",
    ]
    by_zone: dict[str, list[str]] = {}
    for name, report in project.personas.items():
        if report.schedule is None or not report.send:
            continue
        command = " ".join(shlex.quote(p) for p in _command(project, name))
        by_zone.setdefault(report.schedule.timezone, []).append(f"{report.schedule.cron} {command}")
    for zone, entries in by_zone.items():
        lines.append(f"CRON_TZ={zone}")
        lines.extend(entries)
    return "\n".join(lines) + "\n"


def _expand(field: str, names: Sequence[str] | None = None, low: int = 0) -> str:
    """One cron field in systemd calendar syntax."""
    parts = []
    for item in field.split(","):
        match = _FIELD_RE.match(item)
        if not match:
            raise ValueError(item)
        base, _range, step = match.groups()
        if base == "*":
            value = "*" if not step else f"{low}/{step[1:]}"
        elif _range:
            a, b = (int(x) for x in base.split("-"))
            value = f"{names[a % 7]}..{names[b % 7]}" if names else f"{a}..{b}"
            if step:
                value = f"{a}..{b}/{step[1:]}" if not names else value
        else:
            value = names[int(base) % 7] if names else base
            if step:
                value += f"/{step[1:]}"
        parts.append(value)
    return ",".join(parts)


def _on_calendar(cron: str, timezone: str) -> str:
    minute, hour, dom, month, dow = cron.split()
    if dom != "*" and dow != "*":
        raise ValueError("both day of month and day of week are restricted")
    weekday = f"{_expand(dow, DAYS)} " if dow != "*" else ""
    date = f"*-{_expand(month, low=1)}-{_expand(dom, low=1)}"
    time = f"{_expand(hour)}:{_expand(minute)}:00"
    return f"{weekday}{date} {time} {timezone}"


def emit_systemd(project: Project) -> str:
    units = []
    for name, report in project.personas.items():
        sched = report.schedule
        if sched is None or not report.send:
            continue
        try:
            calendar = _on_calendar(sched.cron, sched.timezone)
        except ValueError as exc:
            raise ConfigError(
                Problem(
                    f"report '{name}': cron '{sched.cron}' has no systemd equivalent ({exc})",
                    report.location,
                    hint="use crontab or eventbridge, or restrict only one "
                    "of day-of-month and day-of-week",
                )
            ) from None
        command = " ".join(shlex.quote(p) for p in _command(project, name))
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


def _eventbridge_cron(cron: str) -> str:
    minute, hour, dom, month, dow = cron.split()
    if dom != "*" and dow != "*":
        raise ValueError("both day of month and day of week are restricted")
    if dow == "*":
        dow = "?"
    else:
        dom = "?"
        dow = ",".join(
            "-".join(DAYS[int(x) % 7].upper() for x in part.split("-")) if "/" not in part else part
            for part in dow.split(",")
        )
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def emit_eventbridge(project: Project, env: Mapping[str, str]) -> str:
    """EventBridge Scheduler definitions (the CreateSchedule API's input, as JSON)."""
    target = env.get("REPORTC_SCHEDULE_TARGET_ARN", "arn:aws:ecs:REGION:ACCOUNT:cluster/CLUSTER")
    role = env.get("REPORTC_SCHEDULE_ROLE_ARN", "arn:aws:iam::ACCOUNT:role/reportc-scheduler")
    schedules: list[dict[str, Any]] = []
    for name, report in project.personas.items():
        sched = report.schedule
        if sched is None or not report.send:
            continue
        try:
            expression = _eventbridge_cron(sched.cron)
        except ValueError as exc:
            raise ConfigError(
                Problem(
                    f"report '{name}': cron '{sched.cron}' has no EventBridge equivalent ({exc})",
                    report.location,
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
                "Target": {
                    "Arn": target,
                    "RoleArn": role,
                    "Input": json.dumps({"command": _command(project, name)[1:]}),
                    "RetryPolicy": {"MaximumRetryAttempts": 0},
                },
            }
        )
    return json.dumps({"Schedules": schedules}, indent=2) + "\n"


#: what ``reportc schedule --emit`` can print
EMITTERS = ("crontab", "systemd", "eventbridge")


def emit_schedule(project: Project, kind: str) -> str:
    """Ready-to-install definitions that run ``reportc send``: crontab, systemd or
    eventbridge."""
    if kind == "crontab":
        return emit_crontab(project)
    if kind == "systemd":
        return emit_systemd(project)
    if kind == "eventbridge":
        return emit_eventbridge(project, project.env)
    raise ValueError(f"unknown schedule format '{kind}'; use one of: {', '.join(EMITTERS)}")
