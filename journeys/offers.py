"""QR offers, the pure part: tokens, offer terms, the redemption decision and statistics.

A send node or broadcast may carry an offer (``{"kind": "qr", "expires_in": "P14D",
"max_uses": 1, "value": "10%", "description": "10% off your next order"}``); every
message then gets its own token ``{campaign}-{contact}-{random}``: the campaign (journey
or broadcast id) and the contact id, each cut down to URL-safe characters
(``A-Z a-z 0-9 _``, at most ``MAX_PART``; anything else becomes ``_``), and the random
part, which the caller draws (``secrets.token_urlsafe(16)``) so that this module stays
deterministic. The campaign and contact parts are readable hints for people at the till;
what an offer really belongs to is stored with it (``engine.offers``).

``check_redeemable(offer, now)`` decides one redemption: ``None`` (go ahead) or a reason,
``unknown``, ``used_up`` or ``expired`` (checked in this order: an offer used up stays
used up, however late it is shown). Times are epoch seconds (floats) throughout.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from statistics import median as _median
from typing import Any, Iterable, Mapping

from journeys.durations import DurationError, parse_duration

__all__ = [
    "KINDS",
    "MAX_PART",
    "REASONS",
    "OfferError",
    "OfferTerms",
    "TokenParts",
    "campaign_stats",
    "check_redeemable",
    "epoch",
    "expiry",
    "format_duration",
    "make_token",
    "median",
    "offer_status",
    "offer_terms",
    "parse_token",
    "reason_message",
    "sanitize",
    "stats_summary",
    "token_from_scan",
]

KINDS = ("qr",)
REASONS = ("unknown", "used_up", "expired")
MAX_PART = 24  # each of campaign and contact in a token: keeps /q/<token> short for SMS
MIN_RANDOM = 16  # characters of the random part (token_urlsafe(16) gives 22, 128 bits)
MAX_RANDOM = 64
MAX_TOKEN = 2 * MAX_PART + 2 + MAX_RANDOM
MAX_USES = 1_000_000
MAX_VALUE = 100
MAX_DESCRIPTION = 500

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_PART = re.compile(r"[A-Za-z0-9_]{1,%d}" % MAX_PART)
_RANDOM = re.compile(r"[A-Za-z0-9_\-]{%d,%d}" % (MIN_RANDOM, MAX_RANDOM))
_SCAN_PATH = re.compile(r"/q/([^/?#\s]+)")


class OfferError(ValueError):
    """An offer spec or token input that cannot work; ``loc`` names the field (``offer.max_uses``)."""

    def __init__(self, loc: str, message: str) -> None:
        super().__init__(f"{loc}: {message}")
        self.loc = loc
        self.message = message


# -- tokens -------------------------------------------------------------------------------


def sanitize(part: Any, limit: int = MAX_PART) -> str:
    """``"abandoned-cart"`` -> ``"abandoned_cart"``: URL-safe, at most ``limit`` characters, never empty."""
    text = _UNSAFE.sub("_", str(part if part is not None else "")).strip("_")
    return text[:limit].rstrip("_") or "_"


@dataclass(frozen=True)
class TokenParts:
    campaign: str
    contact: str
    random: str


def make_token(campaign: str, contact_id: str, random: str) -> str:
    """The offer token ``{campaign}-{contact}-{random}``; ``random`` is URL-safe text of 16-64 characters."""
    if not isinstance(random, str) or not _RANDOM.fullmatch(random):
        raise OfferError("random", f"must be {MIN_RANDOM}-{MAX_RANDOM} URL-safe characters,"
                                   " e.g. secrets.token_urlsafe(16)")
    return f"{sanitize(campaign)}-{sanitize(contact_id)}-{random}"


def parse_token(token: Any) -> TokenParts | None:
    """The parts of a well-formed token, or None (the random part may itself contain ``-``)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        return None
    pieces = token.split("-", 2)
    if len(pieces) != 3:
        return None
    campaign, contact, random = pieces
    if not (_PART.fullmatch(campaign) and _PART.fullmatch(contact) and _RANDOM.fullmatch(random)):
        return None
    return TokenParts(campaign, contact, random)


def token_from_scan(text: Any) -> str:
    """What a till scanned or typed -> the token: the QR holds the short URL ``.../q/<token>``."""
    if not isinstance(text, str):
        return ""
    text = text.strip()
    found = _SCAN_PATH.search(text)
    return found.group(1) if found else text


# -- terms --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferTerms:
    """A validated offer spec of a send node or broadcast."""

    kind: str = "qr"
    expires_in: str | None = None  # ISO-8601 duration from issue; None: never expires
    max_uses: int = 1
    value: str | None = None  # e.g. "10%", "5 EUR"
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "expires_in": self.expires_in, "max_uses": self.max_uses,
                "value": self.value, "description": self.description}


_FIELDS = ("kind", "expires_in", "max_uses", "value", "description")


def offer_terms(spec: Any, loc: str = "offer", strict: bool = False) -> OfferTerms:
    """Check an offer spec; raises :class:`OfferError` naming the field (``offer.expires_in``).

    ``strict`` also refuses unknown fields (for editors and APIs, where a typo such as
    ``max_use`` should be caught); at send time they are ignored.
    """
    if not isinstance(spec, Mapping):
        raise OfferError(loc, 'must be an object such as {"kind": "qr", "expires_in": "P14D", "max_uses": 1}')
    unknown = sorted(str(k) for k in spec if k not in _FIELDS)
    if strict and unknown:
        raise OfferError(f"{loc}.{unknown[0]}", f"unknown field; an offer has {', '.join(_FIELDS)}")
    kind = spec.get("kind", "qr")
    if kind not in KINDS:
        raise OfferError(f"{loc}.kind", f"must be one of {', '.join(KINDS)}")
    expires_in = spec.get("expires_in")
    if expires_in is not None:
        try:
            parse_duration(expires_in)
        except DurationError as exc:
            raise OfferError(f"{loc}.expires_in", str(exc)) from None
    max_uses = spec.get("max_uses", 1)
    if isinstance(max_uses, bool) or not isinstance(max_uses, int) or not 1 <= max_uses <= MAX_USES:
        raise OfferError(f"{loc}.max_uses", f"must be a whole number from 1 to {MAX_USES}")
    value = _text(spec.get("value"), f"{loc}.value", MAX_VALUE, numbers=True)
    description = _text(spec.get("description"), f"{loc}.description", MAX_DESCRIPTION)
    return OfferTerms(kind, expires_in, max_uses, value, description)


def _text(value: Any, loc: str, limit: int, numbers: bool = False) -> str | None:
    if value is None:
        return None
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        value = str(value)
    if not isinstance(value, str):
        raise OfferError(loc, "must be text" + (" or a number" if numbers else ""))
    if len(value) > limit:
        raise OfferError(loc, f"must be at most {limit} characters")
    return value


def expiry(issued_at: float, expires_in: str | None) -> float | None:
    """When an offer issued at ``issued_at`` stops being redeemable (None: never)."""
    return None if expires_in is None else issued_at + parse_duration(expires_in).total_seconds()


def epoch(moment: float | int | datetime) -> float:
    """Epoch seconds of a clock reading (a number) or an aware datetime."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a datetime for an offer needs a time zone (use UTC)")
        return moment.timestamp()
    if isinstance(moment, bool) or not isinstance(moment, (int, float)) or not math.isfinite(moment):
        raise ValueError(f"{moment!r} is not a time (epoch seconds or an aware datetime)")
    return float(moment)


# -- the redemption decision ----------------------------------------------------------------


def check_redeemable(offer: Mapping[str, Any] | None, now: float) -> str | None:
    """``None`` when one more redemption is allowed at ``now``, else the reason.

    ``offer`` holds ``uses``, ``max_uses`` and ``expires_at`` (epoch seconds or None);
    None (no such offer) gives ``unknown``.
    """
    if offer is None:
        return "unknown"
    if offer["uses"] >= offer["max_uses"]:
        return "used_up"
    expires_at = offer.get("expires_at")
    if expires_at is not None and now >= expires_at:
        return "expired"
    return None


def offer_status(offer: Mapping[str, Any], now: float) -> str:
    """``active``, ``used_up`` or ``expired``."""
    return check_redeemable(offer, now) or "active"


def reason_message(reason: str, offer: Mapping[str, Any] | None = None, iso=None) -> str:
    """A sentence for the person at the till. ``iso`` formats epoch seconds (default: as is)."""
    show = iso or (lambda t: t)
    if reason == "unknown" or offer is None:
        return "no such offer: check the code (it may belong to another workspace or be mistyped)"
    if reason == "used_up":
        uses = offer["uses"]
        last = offer.get("last_redeemed_at")
        when = f", last on {show(last)}" if last is not None else ""
        return f"this offer was already used {uses} of {offer['max_uses']} time(s){when}"
    if reason == "expired":
        return f"this offer expired on {show(offer['expires_at'])}"
    return reason


# -- statistics ---------------------------------------------------------------------------


def median(values: Iterable[float]) -> float | None:
    items = list(values)
    return float(_median(items)) if items else None


def format_duration(seconds: float | None) -> str | None:
    """Whole seconds as an ISO-8601 duration: ``93784`` -> ``P1DT2H3M4S``; 0 -> ``PT0S``."""
    if seconds is None:
        return None
    total = max(0, int(round(seconds)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
    return text if text != "P" else "PT0S"


def stats_summary(issued: int, redeemed: int, uses: int, times_to_redeem: Iterable[float]) -> dict[str, Any]:
    """The figures of a set of offers: ``redeemed`` counts offers used at least once,
    ``uses`` every redemption, the median is over each offer's first redemption."""
    middle = median(times_to_redeem)
    return {
        "issued": issued,
        "redeemed": redeemed,
        "uses": uses,
        "redemption_rate": round(redeemed / issued, 4) if issued else 0.0,
        "median_time_to_redeem_seconds": None if middle is None else round(middle, 3),
        "median_time_to_redeem": format_duration(middle),
    }


def campaign_stats(offers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`stats_summary` of offers given as ``{"issued_at", "redemptions": [{"at"}...]}``."""
    issued = redeemed = uses = 0
    times: list[float] = []
    for offer in offers:
        issued += 1
        moments = sorted(r["at"] for r in offer.get("redemptions") or ())
        uses += len(moments)
        if moments:
            redeemed += 1
            times.append(moments[0] - offer["issued_at"])
    return stats_summary(issued, redeemed, uses, times)
