"""Whether a cron expression and a time zone are usable (croniter, zoneinfo).

Kept apart from :mod:`reportc.schedule` (which plans and emits schedules for a
loaded project) so that loading a project can check schedules without importing
anything above the configuration layer.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def schedule_problem(cron: str, timezone: str) -> str | None:
    """Why this schedule is not usable, or None."""
    from croniter import croniter

    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        return f"'{cron}' is not a cron expression (minute hour day month weekday)"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"'{timezone}' is not an IANA time zone (e.g. America/Los_Angeles)"
    return None
