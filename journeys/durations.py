"""ISO-8601 durations (``PT4H``, ``P2D``, ``P1DT12H``) as used by waits and settings."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import TypeAdapter, ValidationError

_ADAPTER = TypeAdapter(timedelta)


class DurationError(ValueError):
    """A duration string is not ISO-8601 (``P…``); the message shows an example."""


def parse_duration(text: str) -> timedelta:
    """Parse ``P[nD]T[nH][nM][nS]`` (weeks allowed) into a positive timedelta."""
    # checked before the cache: a list or dict from a draft graph is unhashable
    if not isinstance(text, str) or not text.upper().startswith("P"):
        raise DurationError(f"{text!r} is not an ISO-8601 duration, e.g. 'PT4H' or 'P2D'")
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> timedelta:
    if any(unit in text.upper().split("T")[0] for unit in ("Y", "M")):
        raise DurationError(f"{text!r}: months and years are ambiguous; use days, e.g. 'P30D'")
    try:
        value = _ADAPTER.validate_python(text)
    except ValidationError:
        raise DurationError(f"{text!r} is not an ISO-8601 duration, e.g. 'PT4H' or 'P2D'") from None
    if value <= timedelta(0):
        raise DurationError(f"{text!r} must be longer than zero")
    return value


def seconds(text: str) -> float:
    """The duration in seconds."""
    return parse_duration(text).total_seconds()
