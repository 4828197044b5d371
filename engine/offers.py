"""The offer book: QR offer tokens stored with ``eventsourcing``, redeemed atomically.

Every issued offer is an ``Offer`` aggregate whose id is the version-5 UUID of its token,
so a till's scan finds it in one read; an ``OfferForMessage`` aggregate, keyed by the
message id, makes ``issue`` idempotent: re-delivering a send command returns the token
issued the first time. Both are saved in one transaction.

Redemption is atomic without locks: ``redeem`` loads the offer, decides with
``journeys.offers.check_redeemable`` and saves a ``Redeemed`` event at the next version.
If someone else saved a redemption in between, the recorder refuses the version
(``RecordConflictError``: unique (originator_id, originator_version) in SQLite and
PostgreSQL alike); the book reloads and decides again. So 100 tills redeeming a
``max_uses: 1`` offer at once get exactly one success and 99 ``used_up``, across threads
and processes. A ``request_id`` makes a redemption retryable: the same id on the same
offer returns the first success again instead of ``used_up``.

Storage is configuration, as for ``engine.definitions``: ``OfferBook(sqlite_path)``
(embedded: ``<data-dir>/offers.db``), ``OfferBook.from_postgres(dsn, schema)`` (table
``offerbook_events`` in that schema), or an in-memory SQLite database. Statistics fold
the book's notification log, read incrementally, per workspace and campaign.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import OperationalError, RecordConflictError

from engine.aggregates import find_aggregate
from engine.qr import qr_base64
from journeys.events import iso_from_epoch, parse_time
from journeys.offers import (
    check_redeemable,
    epoch,
    expiry,
    make_token,
    offer_status,
    offer_terms,
    reason_message,
    stats_summary,
)

__all__ = ["Offer", "OfferBook", "OfferBusy", "OfferForMessage", "issued_event", "redeemed_event"]

logger = logging.getLogger("switchback.offers")

# Fixed forever: every stored offer's aggregate id is derived from it.
NAMESPACE = UUID("0c6f2d0e-55a7-4c1b-8d3e-7f1a9b2c4e61")
MAX_ID = 200
_RETRIES = 200  # reloads after conflicts; each conflict means another redemption was saved
_TRANSIENT_RETRIES = 5  # pool timeouts, "database is locked": retry a few times, then give up


class OfferBusy(Exception):
    """The store stayed unavailable (or contended) for this redemption; nothing was redeemed."""


class Offer(Aggregate):
    """One issued offer: its terms, owner and redemptions (each ``{"use", "at", "by", "attempt"}``)."""

    @staticmethod
    def create_id(token: str) -> UUID:
        return uuid5(NAMESPACE, f"offer:{token}")

    @event("Issued")
    def __init__(self, workspace: str, token: str, campaign: str, contact_id: str, message_id: str,
                 kind: str, value: str | None, description: str | None, max_uses: int,
                 issued_at: float, expires_at: float | None) -> None:
        self.workspace = workspace
        self.token = token
        self.campaign = campaign
        self.contact_id = contact_id
        self.message_id = message_id
        self.kind = kind
        self.value = value
        self.description = description
        self.max_uses = max_uses
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.redemptions: list[dict[str, Any]] = []

    def terms(self) -> dict[str, Any]:
        """What the redemption decision reads."""
        return {"uses": len(self.redemptions), "max_uses": self.max_uses, "expires_at": self.expires_at,
                "last_redeemed_at": self.redemptions[-1]["at"] if self.redemptions else None}

    def redemption(self, attempt: str) -> dict[str, Any] | None:
        return next((r for r in self.redemptions if r["attempt"] == attempt), None)

    def redeem(self, at: float, by: str | None, attempt: str) -> dict[str, Any]:
        """Record one more use (the caller checked ``check_redeemable`` first)."""
        self._redeemed(len(self.redemptions) + 1, at, by, attempt, self.workspace, self.campaign, self.issued_at)
        return self.redemptions[-1]

    # workspace, campaign and issued_at are repeated so statistics need not look the offer up
    @event("Redeemed")
    def _redeemed(self, use: int, at: float, by: str | None, attempt: str,
                  workspace: str, campaign: str, issued_at: float) -> None:
        self.redemptions.append({"use": use, "at": at, "by": by, "attempt": attempt})


class OfferForMessage(Aggregate):
    """Which token a message got (``issue`` is idempotent by message id)."""

    @staticmethod
    def create_id(workspace: str, message_id: str) -> UUID:
        return uuid5(NAMESPACE, f"offer-message:{workspace}:{message_id}")

    @event("Issued")
    def __init__(self, workspace: str, message_id: str, token: str) -> None:
        self.workspace = workspace
        self.message_id = message_id
        self.token = token


class OfferBookApp(Application):
    """The eventsourcing application (env keys prefixed ``OFFERBOOK_``). No aggregate
    cache: every redemption decides on the latest stored version."""

    name = "OfferBook"


def _check_id(loc: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise ValueError(f"{loc} must be text of 1-{MAX_ID} characters")
    return value


class OfferBook:
    """Issue, look up, redeem and count QR offers (see the module docstring)."""

    def __init__(self, sqlite_path: str | Path | None = None, env: dict[str, str] | None = None,
                 base_url: str = "http://127.0.0.1:8000") -> None:
        config: dict[str, str] = {}
        if sqlite_path is not None:
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
            config = {"OFFERBOOK_PERSISTENCE_MODULE": "eventsourcing.sqlite",
                      "OFFERBOOK_SQLITE_DBNAME": str(sqlite_path)}
        elif not any(k in (env or {}) for k in ("PERSISTENCE_MODULE", "OFFERBOOK_PERSISTENCE_MODULE")):
            config = {"OFFERBOOK_PERSISTENCE_MODULE": "eventsourcing.sqlite", "OFFERBOOK_SQLITE_DBNAME": ":memory:"}
        config.update(env or {})
        self.app = OfferBookApp(env=config)
        self.base_url = base_url.rstrip("/")
        self._stats_lock = threading.Lock()
        self._position = 0
        self._tallies: dict[tuple[str, str], dict[str, Any]] = {}

    @classmethod
    def from_postgres(cls, dsn: str, schema: str = "switchback", env: dict[str, str] | None = None,
                      base_url: str = "http://127.0.0.1:8000") -> OfferBook:
        """The book in PostgreSQL (table ``offerbook_events`` in ``schema``, created if missing).

        The pool is larger than the definitions store's: a burst of redemptions at the tills
        holds a connection each for a moment.
        """
        from engine.pgconfig import ddl_lock, describe, ensure_schema, postgres_env  # psycopg: distributed only

        config = postgres_env(dsn, schema, prefix=OfferBookApp.name)
        config.update({"OFFERBOOK_POSTGRES_POOL_SIZE": "2", "OFFERBOOK_POSTGRES_MAX_OVERFLOW": "10"})
        config.update(env or {})
        ensure_schema(dsn, schema)
        logger.info("offer book: PostgreSQL %s, schema %s", describe(dsn), schema)
        with ddl_lock(dsn, schema):  # its tables are created now; other processes may be starting too
            return cls(env=config, base_url=base_url)

    def close(self) -> None:
        self.app.close()

    # -- plumbing -------------------------------------------------------------------------

    def _find(self, cls: type, aggregate_id: UUID) -> Any:
        return find_aggregate(self.app, cls, aggregate_id)

    def _lookup(self, token: Any) -> Offer | None:
        """The offer with exactly this token (found by its id, then compared in constant time)."""
        if not isinstance(token, str) or not token or len(token) > 1000:
            return None
        offer = self._find(Offer, Offer.create_id(token))
        if offer is None or not hmac.compare_digest(offer.token.encode(), token.encode()):
            return None
        return offer

    def _offer(self, workspace: str, token: Any) -> Offer | None:
        """The workspace's offer with this token, else None (another workspace's is unknown here)."""
        offer = self._lookup(token)
        return offer if offer is not None and offer.workspace == workspace else None

    def url(self, token: str) -> str:
        """The short public page of an offer (what SMS recipients get and the QR code holds)."""
        return f"{self.base_url}/q/{token}"

    def view(self, offer: Offer, now: float | None = None) -> dict[str, Any]:
        """The staff view of an offer: status, uses and expiry (never the QR image)."""
        now = epoch(time.time() if now is None else now)
        terms = offer.terms()
        return {
            "token": offer.token,
            "offer_id": str(offer.id),
            "campaign": offer.campaign,
            "contact_id": offer.contact_id,
            "message_id": offer.message_id,
            "kind": offer.kind,
            "value": offer.value,
            "description": offer.description,
            "status": offer_status(terms, now),
            "uses": terms["uses"],
            "max_uses": offer.max_uses,
            "uses_left": max(0, offer.max_uses - terms["uses"]),
            "issued_at": iso_from_epoch(offer.issued_at),
            "expires_at": iso_from_epoch(offer.expires_at) if offer.expires_at is not None else None,
            "redemptions": [{"use": r["use"], "redeemed_at": iso_from_epoch(r["at"]), "by": r["by"]}
                            for r in offer.redemptions],
            "url": self.url(offer.token),
        }

    def _issued(self, offer: Offer) -> dict[str, Any]:
        info = self.view(offer, offer.issued_at)
        url = info["url"]
        png = qr_base64(url)
        expires_on = info["expires_at"][:10] if info["expires_at"] else None
        return {**info, "qr_png_base64": png, "qr_img": f"data:image/png;base64,{png}",
                "qr_url": f"{url}/qr.png", "expires_on": expires_on}

    # -- issuing --------------------------------------------------------------------------

    def issue(self, workspace: str, campaign: str, contact_id: str, message_id: str, spec: Any,
              now: float, random: str | None = None) -> dict[str, Any]:
        """The offer of message ``message_id`` (issued now, or the one issued before).

        ``spec`` is the node's or broadcast's offer (``journeys.offers.offer_terms``; a bad
        spec raises ``OfferError`` naming the field). Returns the staff view plus what
        templates use: ``url`` (short page, for SMS), ``qr_img`` (``data:`` URI for
        ``<img src>``), ``qr_png_base64``, ``qr_url`` (the PNG by URL), ``expires_on``.
        ``random`` (tests) replaces ``secrets.token_urlsafe(16)``.
        """
        for loc, value in (("workspace", workspace), ("campaign", campaign), ("contact_id", contact_id),
                           ("message_id", message_id)):
            _check_id(loc, value)
        terms = offer_terms(spec)
        issued_at = epoch(now)
        index_id = OfferForMessage.create_id(workspace, message_id)
        for _ in range(_TRANSIENT_RETRIES):
            known = self._find(OfferForMessage, index_id)
            if known is not None:
                offer = self._offer(workspace, known.token)
                if offer is None:  # the index is saved with the offer, in one transaction
                    raise RuntimeError(f"offer of message {message_id!r} is missing from the book")
                return self._issued(offer)
            token = make_token(campaign, contact_id, random or secrets.token_urlsafe(16))
            offer = Offer(workspace, token, campaign, contact_id, message_id, terms.kind, terms.value,
                          terms.description, terms.max_uses, issued_at, expiry(issued_at, terms.expires_in))
            try:
                self.app.save(offer, OfferForMessage(workspace, message_id, token))
            except RecordConflictError:
                continue  # issued concurrently for the same message: the next round returns that one
            return self._issued(offer)
        raise OfferBusy(f"could not issue the offer of message {message_id!r}; try again")

    # -- reading --------------------------------------------------------------------------

    def get(self, workspace: str, token: str, now: float | None = None) -> dict[str, Any] | None:
        """The staff view of the workspace's offer ``token``, or None."""
        offer = self._offer(workspace, token)
        return None if offer is None else self.view(offer, now)

    def public(self, token: str, now: float | None = None) -> dict[str, Any] | None:
        """What the public page ``/q/<token>`` shows (no contact, no redemption details), or None."""
        offer = self._lookup(token)
        if offer is None:
            return None
        info = self.view(offer, now)
        return {k: info[k] for k in ("token", "value", "description", "status", "uses_left", "expires_at", "url")}

    # -- redeeming ------------------------------------------------------------------------

    def redeem(self, workspace: str, token: str, now: float, by: str | None = None,
               request_id: str | None = None) -> dict[str, Any]:
        """Use the offer once, atomically. Returns ``{"ok": True, "offer", "use", "redeemed_at",
        "replayed"}`` or ``{"ok": False, "reason", "message", "offer"}`` (offer None when unknown).

        ``request_id`` (a till's idempotency key): repeating it for the same offer returns the
        first success with ``replayed: true``. Raises :class:`OfferBusy` if the store stays
        unavailable; nothing is redeemed then (or the retry with the same request id tells).
        """
        at = epoch(now)
        if by is not None:
            by = str(by)[:MAX_ID]
        attempt = f"req:{request_id}" if request_id else f"auto:{uuid.uuid4().hex}"
        transient = 0
        for _ in range(_RETRIES):
            offer = self._offer(workspace, token)
            if offer is None:
                return {"ok": False, "reason": "unknown", "message": reason_message("unknown"), "offer": None}
            done = offer.redemption(attempt)
            if done is not None:  # our own earlier save (a retried request, or a commit we did not hear back from)
                return self._success(offer, done, at, replayed=attempt.startswith("req:"))
            reason = check_redeemable(offer.terms(), at)
            if reason is not None:
                return {"ok": False, "reason": reason, "message": reason_message(reason, offer.terms(), iso_from_epoch),
                        "offer": self.view(offer, at)}
            redemption = offer.redeem(at, by, attempt)
            try:
                self.app.save(offer)
            except RecordConflictError:
                continue  # someone else redeemed meanwhile: reload and decide again
            except OperationalError as exc:
                transient += 1
                if transient >= _TRANSIENT_RETRIES:
                    raise OfferBusy("the offer store is unavailable; try again with the same request_id") from exc
                time.sleep(0.05 * transient)
                continue
            return self._success(offer, redemption, at, replayed=False)
        raise OfferBusy("too many simultaneous redemptions of this offer; try again with the same request_id")

    def _success(self, offer: Offer, redemption: dict[str, Any], now: float, replayed: bool) -> dict[str, Any]:
        return {"ok": True, "offer": self.view(offer, now), "use": redemption["use"],
                "redeemed_at": iso_from_epoch(redemption["at"]), "replayed": replayed}

    # -- statistics -----------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Fold the notification log since the last call into per-campaign tallies."""
        issued, redeemed = Offer.Issued, Offer.Redeemed  # type: ignore[attr-defined]
        while True:
            page = self.app.recorder.select_notifications(start=self._position + 1, limit=1000)
            for notification in page:
                change = self.app.mapper.to_domain_event(notification)
                if isinstance(change, issued):
                    self._tally(change.workspace, change.campaign)["issued"] += 1
                elif isinstance(change, redeemed):
                    tally = self._tally(change.workspace, change.campaign)
                    tally["uses"] += 1
                    if change.use == 1:
                        tally["redeemed"] += 1
                        tally["times"].append(change.at - change.issued_at)
                self._position = notification.id
            if len(page) < 1000:
                return

    def _tally(self, workspace: str, campaign: str) -> dict[str, Any]:
        return self._tallies.setdefault((workspace, campaign), {"issued": 0, "redeemed": 0, "uses": 0, "times": []})

    def stats(self, workspace: str, campaign: str | None = None) -> dict[str, Any]:
        """Issued, redeemed (at least once), uses, redemption rate and median time from issue
        to first redemption: of one campaign, or of the workspace with a per-campaign list."""
        with self._stats_lock:
            self._catch_up()
            mine = {c: t for (w, c), t in self._tallies.items()
                    if w == workspace and (campaign is None or c == campaign)}
            parts = {c: (t["issued"], t["redeemed"], t["uses"], list(t["times"])) for c, t in sorted(mine.items())}
        total = stats_summary(sum(p[0] for p in parts.values()), sum(p[1] for p in parts.values()),
                              sum(p[2] for p in parts.values()), [x for p in parts.values() for x in p[3]])
        result: dict[str, Any] = {"workspace": workspace, "campaign": campaign, **total}
        if campaign is None:
            result["campaigns"] = [{"campaign": c, **stats_summary(*p)} for c, p in parts.items()]
        return result


# -- events for the log ---------------------------------------------------------------------


def _envelope(event_id: str, kind: str, workspace: str, contact_id: str, at: float, source: str,
              data: dict[str, Any]) -> dict[str, Any]:
    stamp = iso_from_epoch(at)
    return {"id": event_id, "type": kind, "workspace": workspace, "contact_id": contact_id,
            "occurred_at": stamp, "received_at": stamp, "source": source, "data": data}


def _facts(offer: dict[str, Any]) -> dict[str, Any]:
    # never the token: it is a bearer code, and the events table is read by analysts
    return {k: offer[k] for k in ("offer_id", "campaign", "message_id", "kind", "value", "max_uses", "expires_at")}


def issued_event(workspace: str, offer: dict[str, Any], source: str = "engine") -> dict[str, Any]:
    """``offer.issued`` for the log from ``OfferBook.issue``'s result; id ``<message_id>:offer_issued``
    and time = the offer's ``issued_at``, so a re-delivered send produces the very same event."""
    return _envelope(f"{offer['message_id']}:offer_issued", "offer.issued", workspace, offer["contact_id"],
                     parse_time(offer["issued_at"]), source, {**_facts(offer), "issued_at": offer["issued_at"]})


def redeemed_event(workspace: str, result: dict[str, Any], source: str = "api") -> dict[str, Any]:
    """``offer.redeemed`` for the log from a successful ``OfferBook.redeem``; the id
    ``redeem:<token hash>:<use>`` makes a repeated append of the same use a duplicate."""
    offer = result["offer"]
    digest = hashlib.sha256(offer["token"].encode()).hexdigest()[:32]
    at = parse_time(result["redeemed_at"])
    by = next((r["by"] for r in offer["redemptions"] if r["use"] == result["use"]), None)
    return _envelope(f"redeem:{digest}:{result['use']}", "offer.redeemed", workspace, offer["contact_id"], at, source,
                     {**_facts(offer), "use": result["use"], "redeemed_at": result["redeemed_at"], "by": by})

