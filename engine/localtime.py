"""Local-time arithmetic for ``wait until`` and quiet hours, in the contact's timezone.

Pure: the current instant comes in as epoch seconds. Unknown or missing timezones fall
back to UTC (the contact's ``timezone`` attribute holds an IANA name such as
``Europe/Berlin``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_local_time(now: float, tz: str | None, hhmm: str, weekdays: list[str] | None = None) -> float:
    """The first instant strictly after ``now`` when the local clock shows ``hhmm`` on an
    allowed weekday (all days when ``weekdays`` is empty)."""
    zone_info = zone(tz)
    local = datetime.fromtimestamp(now, UTC).astimezone(zone_info)
    hour, minute = (int(p) for p in hhmm.split(":"))
    allowed = {WEEKDAYS.index(d) for d in weekdays} if weekdays else set(range(7))
    for days in range(0, 8):
        day = (local + timedelta(days=days)).date()
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone_info)
        # normalise through UTC so a wall time inside a DST gap moves forward, not back
        candidate = candidate.astimezone(UTC).astimezone(zone_info)
        if candidate.weekday() in allowed and candidate.timestamp() > now:
            return candidate.timestamp()
    raise AssertionError("unreachable: some weekday within 8 days is allowed")


def quiet_until(now: float, tz: str | None, window: tuple[int, int]) -> float | None:
    """If ``now`` falls inside the quiet window (minutes of the local day, may wrap past
    midnight), the instant the window ends; otherwise None."""
    start, end = window
    if start == end:
        return None
    local = datetime.fromtimestamp(now, UTC).astimezone(zone(tz))
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    return next_local_time(now, tz, f"{end // 60:02d}:{end % 60:02d}")
