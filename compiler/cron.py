"""Whether a cron expression and a time zone are usable (croniter, zoneinfo).

Kept apart from :mod:`reportc.schedule` (which plans and emits schedules for a
loaded project) so that loading a project can check schedules without importing
anything above the configuration layer.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NAMES = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
    "SUN",
    "MON",
    "TUE",
    "WED",
    "THU",
    "FRI",
    "SAT",
)


def _only_names(cron: str) -> bool:
    """True when every letter in ``cron`` belongs to a month or day name (JUL, WED)."""
    text = cron.upper()
    for name in _NAMES:
        text = text.replace(name, "")
    return not any(mark in text for mark in ("L", "W", "#", "?"))


def schedule_problem(cron: str, timezone: str) -> str | None:
    """Why this schedule is not usable, or None."""
    from croniter import croniter

    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        return f"'{cron}' is not a cron expression (minute hour day month weekday)"
    if any(mark in cron.upper() for mark in ("L", "W", "#", "?")) and not _only_names(cron):
        return (
            f"'{cron}' uses L, W, # or ?, which cron itself (and systemd) do not know; "
            "use numbers, names (MON-FRI, JAN), ranges, lists and steps"
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"'{timezone}' is not an IANA time zone (e.g. America/Los_Angeles)"
    return None
