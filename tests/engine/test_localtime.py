"""Local-time arithmetic (engine/localtime.py) for ``wait until`` and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.localtime import WEEKDAYS, next_local_time, quiet_until

BERLIN = "Europe/Berlin"


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def local(ts: float, tz: str) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz))


def test_later_today():
    assert next_local_time(utc(2026, 11, 20, 7, 0), None, "09:00") == utc(2026, 11, 20, 9, 0)


def test_strictly_after_now():
    now = utc(2026, 11, 20, 9, 0)
    assert next_local_time(now, "UTC", "09:00") == utc(2026, 11, 21, 9, 0)
    assert next_local_time(now + 1, "UTC", "09:00") == utc(2026, 11, 21, 9, 0)
    assert next_local_time(now - 1, "UTC", "09:00") == now


def test_in_the_contacts_timezone():
    # 10:00 UTC is 11:00 in Berlin (winter): 09:00 Berlin is tomorrow 08:00 UTC
    assert next_local_time(utc(2026, 11, 20, 10, 0), BERLIN, "09:00") == utc(2026, 11, 21, 8, 0)
    # in summer Berlin is UTC+2
    assert next_local_time(utc(2026, 7, 1, 5, 0), BERLIN, "09:00") == utc(2026, 7, 1, 7, 0)
    assert next_local_time(utc(2026, 7, 1, 5, 0), "America/New_York", "09:00") == utc(2026, 7, 1, 13, 0)


def test_unknown_or_missing_timezone_falls_back_to_utc():
    now = utc(2026, 11, 20, 7, 0)
    assert next_local_time(now, "Mars/Olympus", "09:00") == next_local_time(now, None, "09:00") == utc(2026, 11, 20, 9)
    assert next_local_time(now, "", "09:00") == utc(2026, 11, 20, 9)


def test_weekdays():
    friday_10 = utc(2026, 11, 20, 10, 0)  # Friday
    assert next_local_time(friday_10, "UTC", "09:00", ["mon"]) == utc(2026, 11, 23, 9)
    assert next_local_time(friday_10, "UTC", "09:00", ["mon", "tue", "wed", "thu", "fri"]) == utc(2026, 11, 23, 9)
    assert next_local_time(friday_10, "UTC", "11:00", ["fri"]) == utc(2026, 11, 20, 11)
    assert next_local_time(friday_10, "UTC", "09:00", ["fri"]) == utc(2026, 11, 27, 9)  # a week later
    assert next_local_time(friday_10, "UTC", "09:00", ["sat", "sun"]) == utc(2026, 11, 21, 9)
    assert next_local_time(friday_10, "UTC", "09:00", []) == utc(2026, 11, 21, 9)  # empty: every day


def test_weekday_is_the_local_weekday():
    # Sunday 23:30 UTC is already Monday 00:30 in Berlin: "monday 08:00" is that same Monday
    now = utc(2026, 11, 22, 23, 30)
    assert next_local_time(now, BERLIN, "08:00", ["mon"]) == utc(2026, 11, 23, 7, 0)
    assert next_local_time(now, "UTC", "08:00", ["mon"]) == utc(2026, 11, 23, 8, 0)


def test_across_the_spring_dst_change():
    # Friday 27 March 2026, 10:00 UTC; Berlin moves to CEST on Sunday 29 March
    at = next_local_time(utc(2026, 3, 27, 10, 0), BERLIN, "09:00", ["mon"])
    assert at == utc(2026, 3, 30, 7, 0)  # 09:00 CEST
    assert local(at, BERLIN).hour == 9


def test_a_time_in_the_dst_gap_moves_forward_not_back():
    # 02:30 does not exist in Berlin on 29 March 2026 (02:00 -> 03:00)
    at = next_local_time(utc(2026, 3, 28, 12, 0), BERLIN, "02:30")
    assert at == utc(2026, 3, 29, 1, 30)  # 03:30 CEST, the first instant after the gap at that wall offset
    assert local(at, BERLIN).strftime("%H:%M") == "03:30"
    # and the day after it is 02:30 again
    assert next_local_time(at, BERLIN, "02:30") == utc(2026, 3, 30, 0, 30)


def test_an_ambiguous_time_in_autumn_takes_the_first_occurrence():
    # 02:30 happens twice in Berlin on 25 October 2026; the first is 00:30 UTC (CEST)
    assert next_local_time(utc(2026, 10, 24, 12, 0), BERLIN, "02:30") == utc(2026, 10, 25, 0, 30)
    # after the first one has passed, the next is the following day's (not the repeat)
    assert next_local_time(utc(2026, 10, 25, 0, 45), BERLIN, "02:30") == utc(2026, 10, 26, 1, 30)


def test_across_the_autumn_dst_change():
    at = next_local_time(utc(2026, 10, 23, 10, 0), BERLIN, "09:00", ["mon"])
    assert at == utc(2026, 10, 26, 8, 0)  # 09:00 CET


ZONES = ["UTC", BERLIN, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago",
         "Pacific/Chatham"]


def wall(day, hour: int, minute: int, tz: str) -> datetime:
    """``hour:minute`` on ``day`` in ``tz``; a time inside a DST gap moves forward by the gap."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(now=st.floats(utc(2025, 1, 1), utc(2028, 1, 1), allow_nan=False),
       tz=st.sampled_from(ZONES), hour=st.integers(0, 23), minute=st.integers(0, 59),
       days=st.lists(st.sampled_from(WEEKDAYS), unique=True, max_size=7))
def test_next_local_time_is_the_first_allowed_occurrence_after_now(now, tz, hour, minute, days):
    allowed = set(days or WEEKDAYS)
    at = next_local_time(now, tz, f"{hour:02d}:{minute:02d}", days)
    assert now < at <= now + 8 * 86400
    when = local(at, tz)
    assert WEEKDAYS[when.weekday()] in allowed
    assert at == wall(when.date(), hour, minute, tz).timestamp()  # hh:mm that day (after a DST gap)
    day = local(now, tz).date()
    while day < when.date():  # no earlier day qualifies
        earlier = wall(day, hour, minute, tz)
        assert earlier.timestamp() <= now or WEEKDAYS[earlier.astimezone(ZoneInfo(tz)).weekday()] not in allowed
        day += timedelta(days=1)


# -- quiet hours ------------------------------------------------------------------------

NIGHT = (21 * 60, 8 * 60)  # 21:00-08:00, wraps past midnight


@pytest.mark.parametrize(("hhmm_utc", "expected"), [
    ((22, 30), utc(2026, 11, 21, 8, 0)),  # late evening: until tomorrow 08:00
    ((21, 0), utc(2026, 11, 21, 8, 0)),   # the start is inside
    ((23, 59), utc(2026, 11, 21, 8, 0)),
])
def test_quiet_until_in_the_evening_wraps_past_midnight(hhmm_utc, expected):
    assert quiet_until(utc(2026, 11, 20, *hhmm_utc), "UTC", NIGHT) == expected


@pytest.mark.parametrize("hhmm_utc", [(0, 0), (3, 0), (7, 59)])
def test_quiet_until_after_midnight_ends_the_same_morning(hhmm_utc):
    assert quiet_until(utc(2026, 11, 21, *hhmm_utc), "UTC", NIGHT) == utc(2026, 11, 21, 8, 0)


@pytest.mark.parametrize("hhmm_utc", [(8, 0), (12, 0), (20, 59)])
def test_outside_quiet_hours(hhmm_utc):
    assert quiet_until(utc(2026, 11, 20, *hhmm_utc), "UTC", NIGHT) is None


def test_quiet_hours_in_the_contacts_timezone():
    # 20:30 UTC is 21:30 in Berlin: quiet until 08:00 Berlin = 07:00 UTC
    assert quiet_until(utc(2026, 11, 20, 20, 30), BERLIN, NIGHT) == utc(2026, 11, 21, 7, 0)
    assert quiet_until(utc(2026, 11, 20, 20, 30), "UTC", NIGHT) is None


def test_quiet_hours_that_do_not_wrap():
    lunch = (12 * 60, 14 * 60)
    assert quiet_until(utc(2026, 11, 20, 13, 0), "UTC", lunch) == utc(2026, 11, 20, 14, 0)
    assert quiet_until(utc(2026, 11, 20, 14, 0), "UTC", lunch) is None
    assert quiet_until(utc(2026, 11, 20, 11, 59), "UTC", lunch) is None


def test_an_empty_window_is_never_quiet():
    assert quiet_until(utc(2026, 11, 20, 13, 0), "UTC", (600, 600)) is None


@settings(max_examples=200, deadline=None)
@given(now=st.floats(utc(2025, 1, 1), utc(2028, 1, 1), allow_nan=False), tz=st.sampled_from(ZONES),
       start=st.integers(0, 1439), end=st.integers(0, 1439))
def test_quiet_until_is_the_next_end_of_the_window(now, tz, start, end):
    until = quiet_until(now, tz, (start, end))
    minute = local(now, tz).hour * 60 + local(now, tz).minute
    inside = start != end and (start <= minute < end if start < end else (minute >= start or minute < end))
    assert (until is not None) is inside
    if until is None:
        return
    assert until == next_local_time(now, tz, f"{end // 60:02d}:{end % 60:02d}")
    assert now < until <= now + 86400 + 3 * 3600
    if tz in ("UTC", "Asia/Kolkata"):  # no DST: once the window is over, it is over
        assert quiet_until(until, tz, (start, end)) is None
