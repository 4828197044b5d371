"""The analytics tables: orders, attributions (window edges, log order), offers and
redemptions, segment membership history, daily rollups, erasure."""

from __future__ import annotations

import pytest

from projections import commerce, rollups


def rows(conn, sql, *params):
    return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def queued(ev, cid, mid, *, journey="welcome", node="s1", broadcast=None, at="2026-01-01T09:00:00Z",
           channel="email"):
    data = dict(message_id=mid, journey_id=journey, version=1, node_id=node, channel=channel, template="t")
    if broadcast:
        data.update(broadcast_id=broadcast, journey_id=None)
    return ev("message.queued", cid, at=at, source="engine", **data)


def clicked(ev, cid, mid, at):
    return ev("message.clicked", cid, at=at, source="ses", message_id=mid, url="https://shop.example")


def order(ev, cid, oid, at, amount="10.00", currency="EUR", **extra):
    return ev("order.placed", cid, at=at, order_id=oid, amount=amount, currency=currency, **extra)


# -- orders ----------------------------------------------------------------------------------
def test_orders_one_row_per_order_id(project, ev):
    conn = project(ev("contact.created", "c1"),
                   order(ev, "c1", "o1", "2026-01-02T10:00:00Z", amount="19.99", items=[{"sku": "a"}]),
                   order(ev, "c1", "o1", "2026-01-02T10:05:00Z", amount="50"))  # a retry under a new event id
    assert rows(conn, "SELECT order_id, contact_id, placed_at, amount, currency FROM orders") == [
        ("o1", "c1", "2026-01-02T10:00:00Z", 19.99, "EUR")]
    assert '"sku"' in conn.execute("SELECT data FROM orders").fetchone()[0]
    # contacts count order.placed events, as segment rules do; the revenue rollup counts orders
    assert rows(conn, "SELECT order_count FROM contacts") == [(2,)]
    assert rows(conn, "SELECT day, journey_id, currency, orders, revenue FROM daily_revenue") == [
        ("2026-01-02", "", "EUR", 1, 19.99)]


def test_order_without_id_or_with_bad_amount(project, ev):
    conn = project(ev("order.placed", "c1", at="2026-01-02T10:00:00Z", amount="5"),
                   ev("order.placed", "c1", at="2026-01-02T10:00:00Z", order_id="o2", amount="abc"))
    assert rows(conn, "SELECT order_id, amount, currency FROM orders") == [("o2", 0.0, None)]


# -- attributions ------------------------------------------------------------------------------
@pytest.mark.parametrize("clicked_at, attributed", [
    ("2026-01-08T10:00:00Z", True),   # exactly at the order
    ("2026-01-01T10:00:00Z", True),   # exactly 7 days before
    ("2025-12-31T23:59:59Z", False),  # just outside the window
    ("2026-01-08T10:00:01Z", False),  # after the order (a clock skew): not a cause
])
def test_attribution_window_edges(project, ev, clicked_at, attributed):
    conn = project(queued(ev, "c1", "m1", at="2025-12-01T00:00:00Z"), clicked(ev, "c1", "m1", clicked_at),
                   order(ev, "c1", "o1", "2026-01-08T10:00:00Z"))
    found = rows(conn, "SELECT order_id, message_id, journey_id, node_id, clicked_at FROM attributions")
    assert found == ([("o1", "m1", "welcome", "s1", clicked_at)] if attributed else [])
    journey = "welcome" if attributed else ""
    assert rows(conn, "SELECT journey_id, orders, revenue FROM daily_revenue") == [(journey, 1, 10.0)]


def test_the_last_click_wins_and_other_contacts_do_not_count(project, ev):
    conn = project(queued(ev, "c1", "m1", journey="welcome"), queued(ev, "c1", "m2", journey="cart", node="s9"),
                   queued(ev, "c2", "m3", journey="other"),
                   clicked(ev, "c1", "m2", "2026-01-05T10:00:00Z"), clicked(ev, "c1", "m1", "2026-01-06T10:00:00Z"),
                   clicked(ev, "c2", "m3", "2026-01-06T11:00:00Z"),
                   clicked(ev, "c1", "m2", "2026-01-06T12:00:00Z"),  # a second click keeps m2's first clicked_at
                   order(ev, "c1", "o1", "2026-01-07T00:00:00Z", amount="30"))
    assert rows(conn, "SELECT message_id, journey_id, clicked_at, amount FROM attributions") == [
        ("m1", "welcome", "2026-01-06T10:00:00Z", 30.0)]


def test_window_setting(project, ev, monkeypatch):
    monkeypatch.setenv(commerce.WINDOW_ENV, "PT1H")
    conn = project(queued(ev, "c1", "m1"), clicked(ev, "c1", "m1", "2026-01-01T09:30:00Z"),
                   order(ev, "c1", "o1", "2026-01-01T10:00:00Z"), order(ev, "c1", "o2", "2026-01-01T10:30:01Z"))
    assert rows(conn, "SELECT order_id FROM attributions") == [("o1",)]
    assert commerce.attribution_window({}).days == 7
    with pytest.raises(ValueError, match="SWITCHBACK_ATTRIBUTION_WINDOW"):
        commerce.attribution_window({commerce.WINDOW_ENV: "7 days"})


def test_a_click_reported_after_the_order_does_not_reattribute(project, ev):
    """Log order decides: the order was projected before the click arrived."""
    conn = project(queued(ev, "c1", "m1"), order(ev, "c1", "o1", "2026-01-02T10:00:00Z"),
                   clicked(ev, "c1", "m1", "2026-01-02T09:00:00Z"))
    assert rows(conn, "SELECT * FROM attributions") == []
    conn = project(order(ev, "c1", "o2", "2026-01-02T11:00:00Z"))  # a later order sees the click
    assert rows(conn, "SELECT order_id, message_id FROM attributions") == [("o2", "m1")]


def test_a_click_before_its_queued_report_gets_the_journey_later(project, ev):
    """Kafka topics interleave: message.queued (engine topic) may be projected after the click."""
    conn = project(clicked(ev, "c1", "m1", "2026-01-02T09:00:00Z"), order(ev, "c1", "o1", "2026-01-02T10:00:00Z"))
    assert rows(conn, "SELECT message_id, journey_id FROM attributions") == [("m1", None)]
    assert rows(conn, "SELECT journey_id, orders FROM daily_revenue") == [("", 1)]
    conn = project(queued(ev, "c1", "m1", journey="cart", node="s2"))
    assert rows(conn, "SELECT message_id, journey_id, node_id FROM attributions") == [("m1", "cart", "s2")]
    assert rows(conn, "SELECT journey_id, orders, revenue FROM daily_revenue") == [("cart", 1, 10.0)]
    assert rows(conn, "SELECT journey_id, clicked, queued FROM daily_message_stats ORDER BY day") == [
        ("cart", 0, 1), ("cart", 1, 0)]


def test_broadcast_attribution(project, ev):
    conn = project(queued(ev, "c1", "b1", broadcast="spring"), clicked(ev, "c1", "b1", "2026-01-02T09:00:00Z"),
                   order(ev, "c1", "o1", "2026-01-02T10:00:00Z", amount="12.5", currency="USD"))
    assert rows(conn, "SELECT broadcast_id, journey_id FROM attributions") == [("spring", None)]
    assert rows(conn, "SELECT broadcast_id, journey_id, currency, revenue FROM daily_revenue") == [
        ("spring", "", "USD", 12.5)]


# -- offers ----------------------------------------------------------------------------------
def test_offers_and_redemptions(project, ev):
    facts = dict(offer_id="of1", campaign="welcome", message_id="m1", kind="qr", value="10%", max_uses=2,
                 expires_at="2026-02-01T00:00:00Z")
    conn = project(ev("offer.issued", "c1", source="engine", issued_at="2026-01-01T10:00:00Z", **facts),
                   ev("offer.issued", "c1", source="engine", issued_at="2026-01-01T11:00:00Z", **facts),
                   ev("offer.redeemed", "c1", use=1, redeemed_at="2026-01-03T10:00:00Z", by="till-1", **facts),
                   ev("offer.redeemed", "c1", use=2, redeemed_at="2026-01-04T10:00:00Z", by=None, **facts),
                   ev("offer.redeemed", "c1", use=2, redeemed_at="2026-01-04T10:00:00Z", **facts),
                   ev("offer.redeemed", "c1", offer_id="bad"))  # no use: ignored
    assert rows(conn, "SELECT offer_id, contact_id, campaign, message_id, kind, value, max_uses, issued_at,"
                      " expires_at FROM offers") == [
        ("of1", "c1", "welcome", "m1", "qr", "10%", 2, "2026-01-01T10:00:00Z", "2026-02-01T00:00:00Z")]
    assert rows(conn, "SELECT offer_id, use, contact_id, campaign, redeemed_at, value, redeemed_by"
                      " FROM offer_redemptions ORDER BY use") == [
        ("of1", 1, "c1", "welcome", "2026-01-03T10:00:00Z", "10%", "till-1"),
        ("of1", 2, "c1", "welcome", "2026-01-04T10:00:00Z", "10%", None)]
    assert rows(conn, "SELECT COUNT(*) FROM contacts") == [(0,)]  # offer events never create a contact


def test_the_offer_events_of_the_offer_book_project(project, ev):
    from engine.offers import OfferBook, issued_event, redeemed_event

    book = OfferBook(None, base_url="http://sb.test")
    try:
        offer = book.issue("acme", "spring", "c1", "m1", {"kind": "qr", "max_uses": 1, "value": "5"}, now=1.7e9)
        result = book.redeem("acme", offer["token"], now=1.7e9 + 60, by="till")
        conn = project(issued_event("acme", offer), redeemed_event("acme", result))
    finally:
        book.close()
    assert rows(conn, "SELECT offer_id, campaign, value FROM offers") == [(offer["offer_id"], "spring", "5")]
    assert rows(conn, "SELECT offer_id, use, redeemed_by FROM offer_redemptions") == [(offer["offer_id"], 1, "till")]
    assert offer["token"] not in str(rows(conn, "SELECT * FROM offers")) + str(rows(conn, "SELECT data FROM events"))


# -- segment membership ------------------------------------------------------------------------
def test_segment_membership_history(project, ev):
    def seg(kind, at, segment="vip", cid="c1"):
        return ev(f"segment.{kind}", cid, at=at, source="engine", segment_id=segment)

    conn = project(seg("entered", "2026-01-01T00:00:00Z"), seg("entered", "2026-01-01T05:00:00Z"),  # still in
                   seg("exited", "2026-01-02T00:00:00Z"), seg("exited", "2026-01-02T01:00:00Z"),  # not in: nothing
                   seg("entered", "2026-01-03T00:00:00Z"), seg("entered", "2026-01-03T00:00:00Z", "new"),
                   seg("entered", "2026-01-03T00:00:00Z", cid="c2"),
                   ev("segment.entered", "c3", source="engine"))  # no segment id: ignored
    assert rows(conn, "SELECT segment_id, contact_id, entered_at, exited_at FROM segment_membership"
                      " ORDER BY 1, 2, 3") == [
        ("new", "c1", "2026-01-03T00:00:00Z", None),
        ("vip", "c1", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("vip", "c1", "2026-01-03T00:00:00Z", None),
        ("vip", "c2", "2026-01-03T00:00:00Z", None)]
    current = "SELECT contact_id FROM segment_membership WHERE segment_id = 'vip' AND exited_at IS NULL ORDER BY 1"
    assert rows(conn, current) == [("c1",), ("c2",)]
    conn = project(ev("contact.deleted", "c2"))
    assert rows(conn, current) == [("c1",), ("c2",)]  # ids only: kept, as in journey_instances


# -- rollups ---------------------------------------------------------------------------------
def test_daily_message_stats(project, ev):
    def report(kind, mid, at, **data):
        return ev(f"message.{kind}", "c1", at=at, source="ses", message_id=mid, **data)

    conn = project(queued(ev, "c1", "m1", at="2026-01-01T09:00:00Z"),
                   queued(ev, "c1", "m2", at="2026-01-01T09:00:00Z", channel="sms"),
                   report("sent", "m1", "2026-01-01T09:01:00Z"), report("delivered", "m1", "2026-01-01T09:02:00Z"),
                   report("opened", "m1", "2026-01-02T08:00:00Z"), report("opened", "m1", "2026-01-02T09:00:00Z"),
                   report("clicked", "m1", "2026-01-02T08:05:00Z"),
                   report("failed", "m2", "2026-01-01T09:03:00Z", reason="invalid number"),
                   report("bounced", "m9", "2026-01-01T10:00:00Z", channel="email"))  # no queued report
    stats = ("SELECT day, journey_id, channel, queued, sent, delivered, opened, clicked, bounced, failed"
             " FROM daily_message_stats ORDER BY day, journey_id, channel")
    assert rows(conn, stats) == [
        ("2026-01-01", "", "email", 0, 0, 0, 0, 0, 1, 0),
        ("2026-01-01", "welcome", "email", 1, 1, 1, 0, 0, 0, 0),
        ("2026-01-01", "welcome", "sms", 1, 0, 0, 0, 0, 0, 1),
        ("2026-01-02", "welcome", "email", 0, 0, 0, 1, 1, 0, 0)]
    # an earlier open reported late moves the count to its day; the emptied row goes away
    conn = project(report("opened", "m1", "2026-01-01T20:00:00Z"))
    assert rows(conn, stats)[1] == ("2026-01-01", "welcome", "email", 1, 1, 1, 1, 0, 0, 0)
    assert rows(conn, stats)[3] == ("2026-01-02", "welcome", "email", 0, 0, 0, 0, 1, 0, 0)
    assert rows(conn, stats) == expected_message_stats(conn)


def expected_message_stats(conn):
    """The rollup recomputed from ``messages`` with a GROUP BY per status."""
    found: dict[tuple, list[int]] = {}
    for status in rollups.STATUSES:
        for day, journey, channel, n in conn.execute(
                f"SELECT substr({status}_at, 1, 10), COALESCE(journey_id, ''), COALESCE(channel, ''), COUNT(*)"
                f" FROM messages WHERE {status}_at IS NOT NULL GROUP BY 1, 2, 3"):
            found.setdefault((day, journey, channel), [0] * len(rollups.STATUSES))[rollups.STATUSES.index(status)] = n
    picked = [rollups.STATUSES.index(s) for s in ("queued", "sent", "delivered", "opened", "clicked", "bounced",
                                                  "failed")]
    return [(*key, *(counts[i] for i in picked)) for key, counts in sorted(found.items())]


def test_erasure_blanks_order_payloads_and_keeps_numbers(project, ev):
    conn = project(ev("contact.created", "c1", email="ann@example.com"), queued(ev, "c1", "m1"),
                   clicked(ev, "c1", "m1", "2026-01-02T09:00:00Z"),
                   order(ev, "c1", "o1", "2026-01-02T10:00:00Z", shipping={"street": "1 Main St"}),
                   order(ev, "c2", "o2", "2026-01-02T10:00:00Z", shipping={"street": "2 Side St"}),
                   ev("contact.deleted", "c1"))
    assert rows(conn, "SELECT order_id, amount, data FROM orders ORDER BY 1") == [
        ("o1", 10.0, "{}"), ("o2", 10.0, '{"amount":"10.00","currency":"EUR","order_id":"o2",'
                                         '"shipping":{"street":"2 Side St"}}')]
    assert rows(conn, "SELECT order_id, journey_id FROM attributions") == [("o1", "welcome")]
    assert "Main St" not in str(rows(conn, "SELECT data FROM events"))
    assert rows(conn, "SELECT SUM(orders), SUM(revenue) FROM daily_revenue") == [(2, 20.0)]


def test_an_older_read_model_gets_the_new_tables_and_a_warning(log, read_path, ev, caplog):
    from projections import Projector

    log.append([ev("order.placed", "c1", order_id="o1", amount="5")])
    with Projector(log.path, read_path) as projector:
        projector.catch_up()
        projector.conn.execute("DROP TABLE orders")
        projector.conn.execute("PRAGMA user_version=1")
    with caplog.at_level("WARNING", logger="switchback.projector"):
        with Projector(log.path, read_path) as projector:
            assert rows(projector.conn, "SELECT COUNT(*) FROM orders") == [(0,)]
    assert "switchback rebuild" in caplog.text
