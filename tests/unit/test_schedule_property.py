"""Emitted schedules fire when cron says: for generated cron expressions, the next 20
fire times of the systemd ``OnCalendar`` and the EventBridge ``cron()`` we emit equal
croniter's.

systemd's own ``systemd-analyze calendar --iterations`` judges the systemd form where
it exists; otherwise (and always, as a second opinion) a small evaluator of the
target syntax written here from the documentation, independent of the emitter:
systemd.time(7) and the EventBridge Scheduler cron reference (fields minute, hour,
day-of-month, month, day-of-week with SUN=1, year; ``?`` for the open day field).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportc.cron import schedule_problem
from reportc.schedule import eventbridge_cron, on_calendar

START = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.timezone.utc)
COUNT = 20
SYSTEMD = shutil.which("systemd-analyze")
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _cron_times(cron: str) -> list[dt.datetime]:
    from croniter import croniter

    it = croniter(cron, START)
    return [it.get_next(dt.datetime) for _ in range(COUNT)]


# ----------------------------------------------------------------- generated cron


def _item(low: int, high: int, names: list[str] | None = None) -> st.SearchStrategy[str]:
    def name(v: int) -> str:
        return names[v - low] if names and v - low < len(names) else str(v)

    single = st.integers(low, high).map(name)
    ranged = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ab: f"{name(min(ab))}-{name(max(ab))}"
    )
    stepped = st.tuples(ranged, st.integers(1, max(1, (high - low) // 2))).map(
        lambda rs: f"{rs[0]}/{rs[1]}"
    )
    every = st.integers(2, max(2, (high - low) // 2)).map(lambda s: f"*/{s}")
    start_step = st.tuples(st.integers(low, high), st.integers(2, 9)).map(
        lambda vs: f"{vs[0]}/{vs[1]}"
    )
    return st.one_of(single, ranged, stepped, every, start_step)


def _field(low: int, high: int, names: list[str] | None = None) -> st.SearchStrategy[str]:
    listed = st.lists(_item(low, high, names), min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), listed)


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    minute = draw(_field(0, 59))
    hour = draw(_field(0, 23))
    month = draw(_field(1, 12, MONTHS if draw(st.booleans()) else None))
    if draw(st.booleans()):
        dom, dow = draw(_field(1, 28)), "*"
    else:
        dom, dow = "*", draw(_field(0, 7, [*DAY_NAMES, "SUN"] if draw(st.booleans()) else None))
    return f"{minute} {hour} {dom} {month} {dow}"


# ------------------------------------------------------------ independent evaluators


def _values(field: str, low: int, high: int, names: dict[str, int], sep: str) -> set[int]:
    out: set[int] = set()
    for item in field.split(","):
        base, _, step = item.partition("/")
        if base in ("*", "?"):
            a, b = low, high
        elif sep in base:
            first, last = base.split(sep)
            a = names[first.upper()] if first.upper() in names else int(first)
            b = names[last.upper()] if last.upper() in names else int(last)
        else:
            a = names[base.upper()] if base.upper() in names else int(base)
            b = high if step else a
        out.update(range(a, b + 1, int(step) if step else 1))
    return out


def _days(first: dt.date) -> Iterator[dt.date]:
    day = first
    while True:
        yield day
        day += dt.timedelta(days=1)


def _fire_times(
    minutes: set[int], hours: set[int], day_ok: object, limit: int = COUNT
) -> list[dt.datetime]:
    out: list[dt.datetime] = []
    for day in _days(START.date()):
        if not day_ok(day):  # type: ignore[operator]
            continue
        for h in sorted(hours):
            for m in sorted(minutes):
                t = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=dt.timezone.utc)
                if t > START:
                    out.append(t)
                    if len(out) == limit:
                        return out
        if day.year > START.year + 40:
            return out
    return out


def eventbridge_times(expression: str) -> list[dt.datetime]:
    m = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    assert m, expression
    minute, hour, dom, month, dow, year = m.groups()
    assert year == "*" and (dom == "?") != (dow == "?"), expression
    months = {n: i + 1 for i, n in enumerate(MONTHS)}
    days = {n: i + 1 for i, n in enumerate(DAY_NAMES)}  # EventBridge: SUN=1 ... SAT=7
    doms = _values(dom, 1, 31, {}, "-")
    monthset = _values(month, 1, 12, months, "-")
    dows = _values(dow, 1, 7, days, "-")

    def day_ok(day: dt.date) -> bool:
        eb_dow = (day.weekday() + 1) % 7 + 1  # Python Monday=0 -> EventBridge MON=2
        return day.month in monthset and (day.day in doms if dow == "?" else eb_dow in dows)

    return _fire_times(_values(minute, 0, 59, {}, "-"), _values(hour, 0, 23, {}, "-"), day_ok)


def systemd_times_by_reading(calendar: str) -> list[dt.datetime]:
    m = re.fullmatch(r"(?:(\S+) )?\*-(\S+)-(\S+) (\S+):(\S+):00 UTC", calendar)
    assert m, calendar
    weekdays, month, dom, hour, minute = m.groups()
    names = {n.title(): i for i, n in enumerate(["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"])}
    wds = (
        _values(weekdays, 0, 6, {k.upper(): v for k, v in names.items()}, "..")
        if weekdays
        else None
    )
    doms, monthset = _values(dom, 1, 31, {}, ".."), _values(month, 1, 12, {}, "..")

    def day_ok(day: dt.date) -> bool:
        return day.month in monthset and day.day in doms and (wds is None or day.weekday() in wds)

    return _fire_times(_values(minute, 0, 59, {}, ".."), _values(hour, 0, 23, {}, ".."), day_ok)


def systemd_times_by_systemd(calendar: str) -> list[dt.datetime]:
    assert SYSTEMD
    out = subprocess.run(
        [
            SYSTEMD,
            "calendar",
            f"--iterations={COUNT}",
            "--base-time=2026-01-01 00:00:00 UTC",
            calendar,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": "UTC", "SYSTEMD_COLORS": "0", "PATH": "/usr/bin:/bin"},
    ).stdout
    stamps = re.findall(
        r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out
    )
    return [
        dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc) for s in stamps
    ]


# ----------------------------------------------------------------------- the tests


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron_expressions())
def test_systemd_and_eventbridge_fire_when_cron_does(cron: str) -> None:
    assert schedule_problem(cron, "UTC") is None, cron
    expected = _cron_times(cron)
    calendar = on_calendar(cron, "UTC")
    assert systemd_times_by_reading(calendar) == expected, (cron, calendar)
    if SYSTEMD:
        assert systemd_times_by_systemd(calendar) == expected, (cron, calendar)
    expression = eventbridge_cron(cron)
    assert eventbridge_times(expression) == expected, (cron, expression)


def test_the_evaluators_know_the_issue_cases() -> None:
    """The cases the old emitter got wrong, checked by the evaluators themselves."""
    weekdays_stepped = eventbridge_times("cron(0 9 ? * MON,WED,FRI *)")
    assert {t.strftime("%a") for t in weekdays_stepped} == {"Mon", "Wed", "Fri"}
    assert _cron_times("0 9 * * 1-5/2") == weekdays_stepped
    assert eventbridge_times("cron(0 9 ? * 2 *)")[0].strftime("%a") == "Mon"  # SUN=1
    if SYSTEMD:
        assert systemd_times_by_systemd("Mon,Wed,Fri *-*-* 9:0:00 UTC") == weekdays_stepped


def test_l_w_hash_and_question_marks_are_refused_at_validate() -> None:
    for cron in ("0 0 L * *", "0 0 * * 5#2", "0 0 15W * *", "0 0 ? * 1"):
        assert "uses L, W, # or ?" in (schedule_problem(cron, "UTC") or ""), cron
    assert schedule_problem("0 9 * JUL WED", "UTC") is None
