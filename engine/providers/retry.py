"""Sending with retries: transient errors are tried again after an exponential,
fully jittered pause; permanent errors fail at once.

``attempts`` counts calls to the provider, in total: with the default 3 a message
is handed to the provider at most 3 times (the first try and up to 2 retries).
Before retry number *n* (1, 2, …) the sender sleeps a random time in
``[0, min(max_delay, base_delay * 2 ** (n - 1)))`` ("full jitter": spreads the
retries of many messages hitting the same throttle). When every attempt failed, or a
permanent error came, :class:`DeliveryFailed` carries the provider's reason, whether
it is permanent, and how many calls were made; the sender turns it into
``message.failed``.

Pure apart from the injected ``sleep`` (and ``random``), so tests drive it without
waiting. Exceptions other than TransientError/PermanentError are not ours to
interpret and pass through unchanged.
"""

from __future__ import annotations

import random as _random
import time
from typing import Callable

from engine.providers.base import OutgoingMessage, PermanentError, Provider, Receipt, TransientError

DEFAULT_ATTEMPTS = 3
DEFAULT_BASE_DELAY = 1.0
DEFAULT_MAX_DELAY = 30.0


class DeliveryFailed(Exception):
    """The message could not be delivered to the provider. ``str()`` is the reason."""

    def __init__(self, reason: str, permanent: bool, attempts: int):
        super().__init__(reason)
        self.reason, self.permanent, self.attempts = reason, permanent, attempts


def backoff_cap(retry: int, base_delay: float = DEFAULT_BASE_DELAY, max_delay: float = DEFAULT_MAX_DELAY) -> float:
    """The longest pause before retry number ``retry`` (1-based)."""
    return min(max_delay, base_delay * 2 ** (retry - 1))


def send_with_retry(provider: Provider, message: OutgoingMessage, *, attempts: int = DEFAULT_ATTEMPTS,
                    base_delay: float = DEFAULT_BASE_DELAY, max_delay: float = DEFAULT_MAX_DELAY,
                    sleep: Callable[[float], None] = time.sleep,
                    random: Callable[[], float] = _random.random) -> Receipt:
    """Hand ``message`` to ``provider``, at most ``attempts`` times in total; returns the
    receipt of the first success or raises :class:`DeliveryFailed`."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("delays cannot be negative")
    for attempt in range(1, attempts + 1):
        try:
            return provider.send(message)
        except PermanentError as exc:
            raise DeliveryFailed(str(exc) or type(exc).__name__, permanent=True, attempts=attempt) from exc
        except TransientError as exc:
            if attempt == attempts:
                reason = f"{exc or type(exc).__name__} (gave up after {attempts} attempt{'s' * (attempts > 1)})"
                raise DeliveryFailed(reason, permanent=False, attempts=attempt) from exc
            sleep(random() * backoff_cap(attempt, base_delay, max_delay))
    raise AssertionError("unreachable")  # pragma: no cover
