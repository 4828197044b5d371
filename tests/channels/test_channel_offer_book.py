"""The offer book (engine/offers.py) on SQLite and on PostgreSQL: issuing (idempotent by
message id), redemption that stays atomic under 100 concurrent tills, the reasons for a
refusal, statistics; and the QR images (engine/qr.py)."""

from __future__ import annotations

import base64
import io
import re
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from PIL import Image

from engine.offers import Offer, OfferBook, issued_event, redeemed_event
from engine.qr import qr_data_uri, qr_png
from journeys.events import Event
from journeys.offers import OfferError, parse_token
from tests.support import PG

T = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
HOUR, DAY = 3600.0, 86400.0
SPEC = {"kind": "qr", "expires_in": "P14D", "max_uses": 1, "value": "10%", "description": "10% off your next order"}
TILLS = 100


@pytest.fixture(params=["sqlite", "postgres"])
def book(request, tmp_path):
    if request.param == "sqlite":
        store = OfferBook(tmp_path / "offers.db", base_url="https://shop.example.com/")
    else:
        schema = request.getfixturevalue("pg_schema")
        store = OfferBook.from_postgres(PG, schema, base_url="https://shop.example.com/")
    yield store
    store.close()


def at_once(count: int, work) -> list:
    """``work(i)`` in ``count`` threads of their own (a pool may run two calls on one thread)."""
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    return results


def issue(book, message_id="m1", spec=SPEC, now=T, contact="c_1", campaign="spring-sale", **kw):
    return book.issue("acme", campaign, contact, message_id, spec, now, **kw)


# -- issuing ------------------------------------------------------------------------------

def test_issue_gives_token_url_qr_and_terms(book):
    offer = issue(book)
    parts = parse_token(offer["token"])
    assert parts is not None and (parts.campaign, parts.contact) == ("spring_sale", "c_1")
    assert len(parts.random) >= 22
    assert offer["url"] == f"https://shop.example.com/q/{offer['token']}"
    assert offer["qr_url"] == offer["url"] + "/qr.png"
    assert offer["qr_img"] == "data:image/png;base64," + offer["qr_png_base64"]
    assert base64.b64decode(offer["qr_png_base64"]) == qr_png(offer["url"])  # the QR holds the short URL
    assert offer["issued_at"] == "2026-11-21T10:00:00Z"
    assert offer["expires_at"] == "2026-12-05T10:00:00Z" and offer["expires_on"] == "2026-12-05"
    assert (offer["max_uses"], offer["value"], offer["description"]) == (1, "10%", "10% off your next order")
    assert (offer["status"], offer["uses"], offer["uses_left"]) == ("active", 0, 1)
    assert offer["campaign"] == "spring-sale" and offer["contact_id"] == "c_1" and offer["message_id"] == "m1"
    assert offer["offer_id"] == str(Offer.create_id(offer["token"]))


def test_issue_is_idempotent_by_message_id(book):
    first = issue(book, "m1")
    again = issue(book, "m1", now=T + DAY)  # the send command delivered a second time, a day later
    assert again["token"] == first["token"] and again["issued_at"] == first["issued_at"]
    other = issue(book, "m2")
    assert other["token"] != first["token"]
    elsewhere = book.issue("other-ws", "spring-sale", "c_1", "m1", SPEC, T)
    assert elsewhere["token"] != first["token"]
    assert book.stats("acme")["issued"] == 2


def test_concurrent_issue_of_one_message_gives_one_token(book):
    start = threading.Barrier(8, timeout=60)

    def deliver(_):
        start.wait()
        return issue(book, "m-dup")["token"]

    tokens = set(at_once(8, deliver))
    assert len(tokens) == 1
    assert book.stats("acme")["issued"] == 1


def test_random_part_can_be_given(book):
    offer = issue(book, random="R" * 22)
    assert offer["token"] == "spring_sale-c_1-" + "R" * 22


def test_bad_spec_or_ids_are_refused(book):
    with pytest.raises(OfferError) as err:
        issue(book, spec={"max_uses": 0})
    assert err.value.loc == "offer.max_uses"
    for bad in ("", None, "x" * 201):
        with pytest.raises(ValueError):
            issue(book, message_id=bad)
    assert book.stats("acme")["issued"] == 0


# -- redeeming ----------------------------------------------------------------------------

def test_redeem_once_then_used_up(book):
    token = issue(book)["token"]
    done = book.redeem("acme", token, T + HOUR, by="till 3")
    assert done["ok"] is True and done["use"] == 1 and done["replayed"] is False
    assert done["redeemed_at"] == "2026-11-21T11:00:00Z"
    assert done["offer"]["status"] == "used_up" and done["offer"]["redemptions"] == [
        {"use": 1, "redeemed_at": "2026-11-21T11:00:00Z", "by": "till 3"}]
    again = book.redeem("acme", token, T + 2 * HOUR)
    assert again["ok"] is False and again["reason"] == "used_up"
    assert "already used 1 of 1" in again["message"] and "2026-11-21T11:00:00Z" in again["message"]
    assert book.get("acme", token, T + 2 * HOUR)["uses"] == 1


def test_expired_and_unknown_are_refused_with_their_reasons(book):
    token = issue(book)["token"]
    expired = book.redeem("acme", token, T + 14 * DAY)
    assert expired["ok"] is False and expired["reason"] == "expired"
    assert "2026-12-05T10:00:00Z" in expired["message"] and expired["offer"]["status"] == "expired"
    assert book.redeem("acme", token, T + 14 * DAY - 1)["ok"] is True  # the last second still counts
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "spring_sale-c_1-" + "x" * 22, "", "nonsense"):
        refused = book.redeem("acme", wrong, T)
        assert refused == {"ok": False, "reason": "unknown", "message": refused["message"], "offer": None}
    # another workspace's redeemer cannot use (or even see) the offer
    assert book.redeem("other-ws", token, T)["reason"] == "unknown"
    assert book.get("other-ws", token) is None


def test_request_id_makes_a_retry_return_the_first_success(book):
    token = issue(book, spec={**SPEC, "max_uses": 2})["token"]
    first = book.redeem("acme", token, T + HOUR, request_id="till-7-0001")
    retry = book.redeem("acme", token, T + 2 * HOUR, request_id="till-7-0001")
    assert retry["ok"] and retry["replayed"] is True and retry["use"] == 1
    assert retry["redeemed_at"] == first["redeemed_at"]
    assert book.get("acme", token)["uses"] == 1
    assert book.redeem("acme", token, T + 3 * HOUR, request_id="till-7-0002")["use"] == 2
    assert book.redeem("acme", token, T + 4 * HOUR, request_id="till-7-0003")["reason"] == "used_up"


def _race(book, token):
    """TILLS threads redeem ``token`` at once. Each thread's first lookup waits until every
    thread has loaded the offer, so all of them decide on the same version and all but the
    winners must go through the recorder's version conflict."""
    loaded = threading.Barrier(TILLS, timeout=60)
    seen = threading.local()
    lookup = book._offer

    def racing_lookup(workspace, presented):
        offer = lookup(workspace, presented)
        if not getattr(seen, "once", False):
            seen.once = True
            loaded.wait()
        return offer

    book._offer = racing_lookup  # this book instance only
    try:
        return at_once(TILLS, lambda i: book.redeem("acme", token, T + HOUR, by=f"till {i}"))
    finally:
        del book._offer


@pytest.mark.parametrize("max_uses", [1, 3])
def test_concurrent_redemptions_succeed_exactly_max_uses_times(book, max_uses):
    token = issue(book, spec={**SPEC, "max_uses": max_uses})["token"]
    results = _race(book, token)
    outcomes = Counter("ok" if r["ok"] else r["reason"] for r in results)
    assert outcomes == {"ok": max_uses, "used_up": TILLS - max_uses}
    assert sorted(r["use"] for r in results if r["ok"]) == list(range(1, max_uses + 1))
    stored = book.get("acme", token)
    assert stored["uses"] == max_uses and stored["status"] == "used_up"
    assert [r["use"] for r in stored["redemptions"]] == list(range(1, max_uses + 1))


def test_a_second_book_on_the_same_store_sees_the_redemption(book, tmp_path, request):
    token = issue(book)["token"]
    if request.node.callspec.params["book"] == "sqlite":
        twin = OfferBook(tmp_path / "offers.db")
    else:
        twin = OfferBook.from_postgres(PG, request.getfixturevalue("pg_schema"))
    try:
        assert twin.redeem("acme", token, T)["ok"] is True
        assert book.redeem("acme", token, T)["reason"] == "used_up"
        assert book.stats("acme")["uses"] == 1 == twin.stats("acme")["uses"]
    finally:
        twin.close()


# -- statistics ---------------------------------------------------------------------------

def test_stats_per_campaign_and_workspace(book):
    tokens = [issue(book, f"m{i}", spec={**SPEC, "max_uses": 2}, contact=f"c{i}")["token"] for i in range(4)]
    book.redeem("acme", tokens[0], T + HOUR)
    book.redeem("acme", tokens[0], T + 5 * DAY)  # a second use does not change the time to redeem
    book.redeem("acme", tokens[1], T + 3 * HOUR)
    book.redeem("acme", tokens[2], T + 20 * DAY)  # expired: refused, not counted
    issue(book, "w1", campaign="win-back", now=T)
    stats = book.stats("acme", "spring-sale")
    assert {k: stats[k] for k in ("campaign", "issued", "redeemed", "uses", "redemption_rate")} == {
        "campaign": "spring-sale", "issued": 4, "redeemed": 2, "uses": 3, "redemption_rate": 0.5}
    assert stats["median_time_to_redeem_seconds"] == 2 * HOUR and stats["median_time_to_redeem"] == "PT2H"
    everything = book.stats("acme")
    assert everything["issued"] == 5 and everything["redemption_rate"] == 0.4
    assert [c["campaign"] for c in everything["campaigns"]] == ["spring-sale", "win-back"]
    assert everything["campaigns"][1]["redeemed"] == 0
    assert book.stats("other-ws")["issued"] == 0
    book.redeem("acme", tokens[3], T + 2 * HOUR)  # later calls read on from where they stopped
    assert book.stats("acme", "spring-sale")["redeemed"] == 3


# -- events for the log -------------------------------------------------------------------

def test_issued_and_redeemed_events_are_valid_envelopes_without_the_token(book):
    offer = issue(book)
    result = book.redeem("acme", offer["token"], T + HOUR, by="till 1")
    issued, redeemed = issued_event("acme", offer), redeemed_event("acme", result)
    for record in (issued, redeemed):
        Event.model_validate(record)
        assert offer["token"] not in repr(record)
        assert record["contact_id"] == "c_1" and record["data"]["offer_id"] == offer["offer_id"]
    assert issued["id"] == "m1:offer_issued" and issued["type"] == "offer.issued"
    assert issued["occurred_at"] == "2026-11-21T10:00:00Z"
    assert issued_event("acme", issue(book, "m1", now=T + DAY)) == issued  # a re-delivered send: the same event
    assert redeemed["type"] == "offer.redeemed"
    assert re.fullmatch(r"redeem:[0-9a-f]{32}:1", redeemed["id"])
    assert redeemed["occurred_at"] == "2026-11-21T11:00:00Z"
    assert {k: redeemed["data"][k] for k in ("campaign", "value", "redeemed_at", "use", "by")} == {
        "campaign": "spring-sale", "value": "10%", "redeemed_at": "2026-11-21T11:00:00Z", "use": 1, "by": "till 1"}
    replay = book.redeem("acme", offer["token"], T + 2 * HOUR, request_id=None)
    assert replay["ok"] is False  # and a replayed success (request_id) gives the same event id:
    token2 = issue(book, "m2")["token"]
    a = redeemed_event("acme", book.redeem("acme", token2, T, request_id="r1"))
    b = redeemed_event("acme", book.redeem("acme", token2, T + 1, request_id="r1"))
    assert a == b


# -- what templates get -------------------------------------------------------------------

def test_templates_render_the_issued_offer(book):
    from engine.templates import render, template_context
    from journeys.library import library_templates

    offer = issue(book)
    contact = {"id": "c_1", "attributes": {"first_name": "Ann"}}
    email = next(t for t in library_templates() if t["id"] == "qr-offer")
    html = render(email, template_context(contact, {"offer": offer, "unsubscribe_url": "u"}), strict=True)["html"]
    assert f'src="{offer["qr_img"]}"' in html
    sms = {"channel": "sms", "text": "{{ offer.description }}: {{ offer.url }} (until {{ offer.expires_on }})"}
    text = render(sms, template_context(contact, {"offer": offer}), strict=True)["text"]
    assert text == f"10% off your next order: https://shop.example.com/q/{offer['token']} (until 2026-12-05)"


# -- QR images ----------------------------------------------------------------------------

def test_qr_png_is_a_black_and_white_png():
    png = qr_png("https://shop.example.com/q/spring_sale-c_1-" + "R" * 22)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "1" and image.size[0] == image.size[1] >= 21 * 8
    assert set(image.convert("L").histogram()[1:255]) == {0}  # only black and white pixels
    uri = qr_data_uri("hello")
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",", 1)[1]) == qr_png("hello")
    for bad in ("", "x" * 1001, None):
        with pytest.raises(ValueError):
            qr_png(bad)
