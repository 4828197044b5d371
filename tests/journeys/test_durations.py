"""ISO-8601 durations (journeys/durations.py) as waits, timeouts and settings use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.durations import DurationError, parse_duration, seconds


@pytest.mark.parametrize(("text", "expected"), [
    ("PT4H", timedelta(hours=4)),
    ("P2D", timedelta(days=2)),
    ("P1DT12H", timedelta(days=1, hours=12)),
    ("PT30M", timedelta(minutes=30)),
    ("PT1M", timedelta(minutes=1)),  # M after T is minutes, not months
    ("PT90S", timedelta(seconds=90)),
    ("PT0.5S", timedelta(milliseconds=500)),
    ("P1W", timedelta(weeks=1)),
    ("P30D", timedelta(days=30)),
    ("P1DT1H1M1S", timedelta(days=1, hours=1, minutes=1, seconds=1)),
])
def test_valid_durations(text, expected):
    assert parse_duration(text) == expected
    assert seconds(text) == expected.total_seconds()


@pytest.mark.parametrize("text", ["4h", "PT", "P", "", "1 day", "10:00:00", "PT4", "P2", "P1D2",
                                  "PT4H ", " PT4H", "-P1D", "P-1D", "PT-1H", "p1d", "PTXH"])
def test_invalid_durations_say_what_a_valid_one_looks_like(text):
    with pytest.raises(DurationError, match="ISO-8601 duration, e.g. 'PT4H'"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M", "P2MT1H", "P1M1D"])
def test_months_and_years_are_rejected_as_ambiguous(text):
    with pytest.raises(DurationError, match="months and years are ambiguous"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["PT0S", "P0D", "PT0H0M", "P0W"])
def test_zero_is_rejected(text):
    with pytest.raises(DurationError, match="longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize("value", [None, 4, 4.5, ["P1D"], {"hours": 4}, b"PT4H"])
def test_non_strings_are_a_duration_error_not_a_crash(value):
    with pytest.raises(DurationError):
        parse_duration(value)


def test_duration_error_is_a_value_error():
    assert issubclass(DurationError, ValueError)


@settings(max_examples=100, deadline=None)
@given(days=st.integers(0, 400), hours=st.integers(0, 23), minutes=st.integers(0, 59), secs=st.integers(0, 59))
def test_any_positive_day_time_duration_parses_to_its_value(days, hours, minutes, secs):
    text = f"P{days}DT{hours}H{minutes}M{secs}S"
    expected = timedelta(days=days, hours=hours, minutes=minutes, seconds=secs)
    if expected:
        assert parse_duration(text) == expected
    else:
        with pytest.raises(DurationError):
            parse_duration(text)
