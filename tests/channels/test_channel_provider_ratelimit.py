"""Token-bucket rate limits (GCRA): no 60-second window exceeds per_minute + burst, a
busy bucket delivers its rate, and the SQLite store keeps limits across restarts."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ratelimit import Bucket, earliest, reserve, reserve_all
from engine.ratelimit_store import RateLimits


def most_in_any_window(times: list[float], window: float = 60.0) -> int:
    """The largest number of sends inside any closed window of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


@settings(max_examples=150, deadline=None)
@given(per_minute=st.floats(min_value=0.5, max_value=2000), burst=st.integers(min_value=1, max_value=50),
       gaps=st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=300))
def test_no_window_exceeds_rate_plus_burst(per_minute, burst, gaps):
    state, now, sends = None, 1_700_000_000.0, []
    for gap in gaps:
        now += gap
        state, send_at = reserve(state, now, per_minute, burst)
        assert send_at >= now
        assert not sends or send_at >= sends[-1]  # slots are handed out in order
        sends.append(send_at)
    assert most_in_any_window(sends) <= per_minute + burst


@settings(max_examples=60, deadline=None)
@given(rates=st.lists(st.tuples(st.floats(min_value=1, max_value=600), st.integers(min_value=1, max_value=10)),
                      min_size=1, max_size=3),
       gaps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=200))
def test_every_bucket_of_a_combined_send_holds(rates, gaps):
    buckets = [Bucket(f"b{i}", rate, burst) for i, (rate, burst) in enumerate(rates)]
    states, now, sends = [None] * len(buckets), 0.0, []
    for gap in gaps:
        now += gap
        states, send_at = reserve_all(states, buckets, now)
        sends.append(send_at)
    for bucket in buckets:
        assert most_in_any_window(sends) <= bucket.per_minute + bucket.burst


@pytest.mark.parametrize("burst", [1, 10])
def test_a_600_per_minute_bucket_sends_600_a_minute(burst):
    state, now, sent = None, 0.0, 0
    while True:  # a sender that is always busy and sends each message at its slot
        state, send_at = reserve(state, now, 600, burst)
        if send_at >= 60:
            break
        sent, now = sent + 1, send_at
    assert 588 <= sent <= 612


def test_burst_after_quiet_spell_and_deferral():
    state = None
    slots = []
    for _ in range(4):
        state, at = reserve(state, 100.0, 60, 3)
        slots.append(at)
    assert slots == [100.0, 100.0, 100.0, 101.0]  # three at once, then one a second
    assert earliest(state, 100.0, 60, 3) == 102.0
    assert earliest(state, 500.0, 60, 3) == 500.0  # idle: full again
    state, at = reserve({"tat": 200.0}, 100.0, 60, 1)  # the clock went back: no refill
    assert at == 200.0 and state == {"tat": 201.0}


def test_combined_send_waits_for_the_slowest_bucket_and_books_the_same_time():
    fast, slow = Bucket("provider:acme:ses", 6000, 100), Bucket("campaign:acme:j1:email", 60, 1)
    states, at = reserve_all([None, None], [fast, slow], 10.0)
    assert at == 10.0
    states, at = reserve_all(states, [fast, slow], 10.0)
    assert at == 11.0
    assert states[1] == {"tat": 12.0} and states[0]["tat"] == pytest.approx(11.01)


def test_invalid_limits_are_refused():
    for per_minute, burst in [(0, 1), (-5, 1), (10, 0), (10, 1.5)]:
        with pytest.raises(ValueError):
            Bucket("x", per_minute, burst)
    with pytest.raises(ValueError):
        reserve(None, 0.0, 0, 1)


def test_store_keeps_limits_across_restarts(tmp_path):
    path = tmp_path / "limits.db"
    bucket = Bucket("campaign:acme:welcome:sms", 10, 2)
    limits = RateLimits(path)
    assert [limits.reserve([bucket], 1000.0) for _ in range(3)] == [1000.0, 1000.0, 1006.0]
    restarted = RateLimits(path)  # a new process: the burst is spent, not refilled
    assert restarted.reserve([bucket], 1000.0) == 1012.0
    assert restarted.state(bucket.name) == {"tat": 1024.0}
    assert restarted.reserve([], 5.0) == 5.0
    assert restarted.state("unknown") is None
    with pytest.raises(ValueError, match="twice"):
        restarted.reserve([bucket, bucket], 1000.0)


def test_store_hands_out_distinct_slots_to_concurrent_senders(tmp_path):
    limits = RateLimits(tmp_path / "limits.db")
    bucket = Bucket("provider:acme:twilio", 60, 1)
    slots: list[float] = []
    lock = threading.Lock()

    def sender():
        for _ in range(25):
            at = limits.reserve([bucket], 0.0)
            with lock:
                slots.append(at)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(slots) == [float(i) for i in range(100)]
