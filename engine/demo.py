"""Seeded demo data: contacts to import and an endless stream of shop activity.

Pure and deterministic: no I/O, no wall clock, no global randomness. The same
``seed`` (and ``start``) gives the same contacts and the same stream, so a demo run
can be replayed. ``demo_contacts`` returns ``contact.created`` envelopes ready to
append; ``demo_stream`` yields ``(delay_seconds, event)`` pairs whose events carry
no ``id``/``occurred_at``: the caller sleeps ``delay_seconds``, then stamps and
ingests the event. Message opens and clicks are not generated here: the engine's
outbox provider produces those for the messages it actually sends.

The stream is a small shop simulation: carts are opened and updated, some are
bought (``order.placed`` with the same ``cart_id``, which ends an abandoned-cart
wait) and some are left to trigger the reminders; there are orders without a cart,
contacts entering (and now and then leaving) the ``lapsed-customers`` segment, and
tags being added. ``vip`` is only set at import, on about ``VIP_SHARE`` of contacts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any, Iterator, Sequence

DEMO_START = 1767603600.0  # 2026-01-05T09:00:00Z, a Monday morning
LAPSED_SEGMENT = "lapsed-customers"
STREAM_TYPES = ("cart.updated", "order.placed", "segment.entered", "segment.exited", "contact.tagged")
EVENTS_PER_SECOND = 10.0  # mean rate of the stream; delays are exponential around it

FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena",
               "Lukas", "Mia", "Noah", "Olivia", "Paul", "Sophie", "Tom", "Yara", "Zoe", "Elias")
LAST_NAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
              "Hoffmann", "Schulz", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz")
CITIES = (("Berlin", "Europe/Berlin"), ("Hamburg", "Europe/Berlin"), ("Munich", "Europe/Berlin"),
          ("Cologne", "Europe/Berlin"), ("Vienna", "Europe/Vienna"), ("Zurich", "Europe/Zurich"),
          ("London", "Europe/London"), ("Paris", "Europe/Paris"), ("New York", "America/New_York"))
PRODUCTS = (("tee-basic", "Basic tee", "19.90"), ("hoodie-grey", "Grey hoodie", "49.90"),
            ("jeans-slim", "Slim jeans", "79.00"), ("sneaker-white", "White sneakers", "89.95"),
            ("cap-navy", "Navy cap", "24.50"), ("socks-3pack", "Socks, 3-pack", "12.99"),
            ("jacket-rain", "Rain jacket", "129.00"), ("bag-tote", "Tote bag", "29.00"))
TAGS = ("newsletter", "loyalty", "b2b", "sale-hunter", "gift-buyer")  # not "vip": that stays a fixed share
VIP_SHARE = 0.15

# relative weights of the stream's activities
_MIX = (("cart", 45), ("checkout", 20), ("order", 8), ("lapse", 5), ("tag", 10), ("idle", 8))


def demo_contacts(n: int = 200, seed: int = 7, workspace: str = "default",
                  start: float = DEMO_START) -> list[dict[str, Any]]:
    """``n`` ``contact.created`` envelopes, 1 ms apart from ``start``; ids ``demo-<seed>-<i>``."""
    rng = random.Random(f"{seed}:contacts")
    events = []
    for i in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, tz = rng.choice(CITIES)
        contact_id = f"demo-{seed}-{i}"
        local = f"{_ascii(first)}.{_ascii(last)}.{i}".lower()
        data: dict[str, Any] = {
            "email": f"{local}@example.com",
            "phone": f"+4915{rng.randrange(10**9):09d}",
            "first_name": first,
            "last_name": last,
            "city": city,
            "timezone": tz,
            "tags": ["vip"] if rng.random() < VIP_SHARE else [],
        }
        events.append({
            "id": f"{contact_id}-created",
            "type": "contact.created",
            "workspace": workspace,
            "contact_id": contact_id,
            "occurred_at": _iso_ms(start + i / 1000),
            "source": "import",
            "data": data,
        })
    return events


def demo_stream(contact_ids: Sequence[str], seed: int = 7,
                workspace: str = "default") -> Iterator[tuple[float, dict[str, Any]]]:
    """Endless ``(delay_seconds, event)`` pairs, about ``EVENTS_PER_SECOND`` per second."""
    if not contact_ids:
        raise ValueError("demo_stream needs at least one contact id (create demo contacts first)")
    shop = _Shop(list(contact_ids), random.Random(f"{seed}:stream"), seed, workspace)
    kinds = [kind for kind, _ in _MIX]
    weights = [weight for _, weight in _MIX]
    while True:
        event = shop.act(shop.rng.choices(kinds, weights)[0])
        if event is not None:
            delay = min(max(shop.rng.expovariate(EVENTS_PER_SECOND), 0.005), 1.0)
            yield round(delay, 4), event


class _Shop:
    """The stream's memory: open carts per contact and who is in the lapsed segment."""

    def __init__(self, contact_ids: list[str], rng: random.Random, seed: int, workspace: str):
        self.contacts, self.rng, self.seed, self.workspace = contact_ids, rng, seed, workspace
        self.carts: dict[str, dict[str, Any]] = {}  # contact_id -> {"cart_id", "items"}
        self.lapsed: set[str] = set()
        self.counter = 0

    def act(self, kind: str) -> dict[str, Any] | None:
        if kind == "cart":
            return self._cart()
        if kind == "checkout":
            return self._checkout()
        if kind == "order":
            return self._order(self.rng.choice(self.contacts), cart=None)
        if kind == "lapse":
            return self._lapse()
        if kind == "tag":
            return self._event("contact.tagged", self.rng.choice(self.contacts), {"tag": self.rng.choice(TAGS)})
        # "idle": a cart is abandoned for good (it stays open in the shop, nobody buys it)
        if self.carts:
            self.carts.pop(self.rng.choice(sorted(self.carts)))
        return None

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.seed}-{self.counter}"

    def _event(self, kind: str, contact_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind, "workspace": self.workspace, "contact_id": contact_id, "source": "api", "data": data}

    def _cart(self) -> dict[str, Any]:
        contact_id = self.rng.choice(self.contacts)
        cart = self.carts.get(contact_id)
        if cart is None:
            cart = self.carts[contact_id] = {"cart_id": self._next("cart"), "items": []}
        sku, name, price = self.rng.choice(PRODUCTS)
        for item in cart["items"]:
            if item["sku"] == sku:
                item["qty"] += 1
                break
        else:
            cart["items"].append({"sku": sku, "name": name, "qty": 1, "price": price})
        items = [dict(item) for item in cart["items"]]
        return self._event("cart.updated", contact_id, {"cart_id": cart["cart_id"], "items": items,
                                                        "total": _total(items), "currency": "EUR"})

    def _checkout(self) -> dict[str, Any] | None:
        if not self.carts:
            return None
        contact_id = self.rng.choice(sorted(self.carts))
        return self._order(contact_id, cart=self.carts.pop(contact_id))

    def _order(self, contact_id: str, cart: dict[str, Any] | None) -> dict[str, Any]:
        if cart is None:
            sku, name, price = self.rng.choice(PRODUCTS)
            items = [{"sku": sku, "name": name, "qty": self.rng.randint(1, 3), "price": price}]
        else:
            items = cart["items"]
        data: dict[str, Any] = {"order_id": self._next("order"), "amount": _total(items), "currency": "EUR",
                                "items": [dict(item) for item in items]}
        if cart is not None:
            data["cart_id"] = cart["cart_id"]
        return self._event("order.placed", contact_id, data)

    def _lapse(self) -> dict[str, Any] | None:
        contact_id = self.rng.choice(self.contacts)
        if contact_id not in self.lapsed:
            self.lapsed.add(contact_id)
            return self._event("segment.entered", contact_id, {"segment_id": LAPSED_SEGMENT})
        if self.rng.random() < 0.3:
            self.lapsed.discard(contact_id)
            return self._event("segment.exited", contact_id, {"segment_id": LAPSED_SEGMENT})
        return None


def _total(items: list[dict[str, Any]]) -> str:
    cents = sum(round(float(item["price"]) * 100) * item["qty"] for item in items)
    return f"{cents // 100}.{cents % 100:02d}"


def _iso_ms(epoch: float) -> str:
    stamp = datetime.fromtimestamp(round(epoch, 3), UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _ascii(name: str) -> str:
    return name.translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}))
