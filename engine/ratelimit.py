"""Rate limits as token buckets, in GCRA form ("generic cell rate algorithm"): pure
functions over a tiny state, so the same code runs in tests, the embedded sender and
any store.

A bucket allows ``per_minute`` sends a minute on average and up to ``burst`` sends at
once after a quiet spell; over any 60 seconds it never allows more than
``per_minute + burst``. The state is ``{"tat": t}``, the "theoretical arrival time":
when the bucket would be full again if nothing else were sent. Sends are
*reservations*: :func:`reserve` returns the earliest time this send may happen and
books that slot, so the caller sends at ``send_at`` (deferring the message when it
lies in the future) and the next caller gets the slot after it.

A send subject to several buckets (the provider's and the campaign's) goes through
:func:`reserve_all`, which finds the first time every bucket allows and books that
same time in each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

State = dict[str, Any]


@dataclass(frozen=True)
class Bucket:
    """One named limit: ``per_minute`` sends a minute, ``burst`` at once."""

    name: str
    per_minute: float
    burst: int = 1

    def __post_init__(self) -> None:
        check(self.per_minute, self.burst)


def check(per_minute: float, burst: int) -> None:
    if not per_minute > 0:
        raise ValueError(f"a rate limit needs a positive number per minute, not {per_minute!r}")
    if int(burst) != burst or burst < 1:
        raise ValueError(f"a rate limit's burst must be a whole number of at least 1, not {burst!r}")


def _tat(state: State | None, now: float) -> float:
    tat = float((state or {}).get("tat", now))
    return max(tat, now)  # an idle bucket is full; a clock that went back does not refill it


def earliest(state: State | None, now: float, per_minute: float, burst: int) -> float:
    """When the next send may happen (``now`` or later), without booking it."""
    check(per_minute, burst)
    interval = 60.0 / per_minute
    return max(now, _tat(state, now) - (burst - 1) * interval)


def reserve(state: State | None, now: float, per_minute: float, burst: int) -> tuple[State, float]:
    """Book the next send: returns the new state and the time the send may happen."""
    send_at = earliest(state, now, per_minute, burst)
    return {"tat": _tat(state, now) + 60.0 / per_minute}, send_at


def reserve_all(states: Sequence[State | None], buckets: Sequence[Bucket], now: float) -> tuple[list[State], float]:
    """Book one send in every bucket at the first time all of them allow it."""
    if len(states) != len(buckets):
        raise ValueError("one state per bucket")
    send_at = max([now, *(earliest(s, now, b.per_minute, b.burst) for s, b in zip(states, buckets))])
    booked = [reserve(s, send_at, b.per_minute, b.burst) for s, b in zip(states, buckets)]
    return [state for state, _ in booked], send_at
