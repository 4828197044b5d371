"""Event -> rows: one test per table, plus erasure and the message funnel."""

from __future__ import annotations

import orjson


def rows(conn, sql, *params):
    return conn.execute(sql, params).fetchall()


def contact(conn, cid="c1"):
    cur = conn.execute("SELECT * FROM contacts WHERE workspace = 'acme' AND contact_id = ?", (cid,))
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row))


def test_contact_created_and_updated_merge_attributes(project, ev):
    conn = project(
        ev("contact.created", at="2026-01-01T10:00:00Z", email="ann@example.com", first_name="Ann",
           city="Lyon", tags=["VIP", "news"]),
        ev("contact.updated", at="2026-01-02T10:00:00Z", city=None, last_name="Lee", phone="+331"),
    )
    row = contact(conn)
    assert orjson.loads(row["attributes"]) == {"email": "ann@example.com", "first_name": "Ann",
                                               "last_name": "Lee", "phone": "+331"}
    assert (row["email"], row["phone"], row["first_name"], row["last_name"]) == (
        "ann@example.com", "+331", "Ann", "Lee")
    assert (row["created_at"], row["updated_at"]) == ("2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z")
    assert rows(conn, "SELECT tag FROM contact_tags ORDER BY tag") == [("news",), ("vip",)]


def test_tags_and_subscriptions(project, ev):
    conn = project(
        ev("contact.tagged", tag="VIP"),
        ev("contact.tagged", tags=["a", "b"]),
        ev("contact.untagged", tag="a"),
        ev("contact.unsubscribed", channel="all"),
        ev("contact.subscribed", channel="sms"),
    )
    assert rows(conn, "SELECT workspace, contact_id, tag FROM contact_tags ORDER BY tag") == [
        ("acme", "c1", "b"), ("acme", "c1", "vip")]
    assert orjson.loads(contact(conn)["unsubscribed"]) == ["email", "whatsapp"]


def test_orders_add_up(project, ev):
    conn = project(
        ev("order.placed", at="2026-01-03T00:00:00Z", order_id="o1", amount="59.90"),
        ev("order.placed", at="2026-01-01T00:00:00Z", order_id="o2", amount="0.20"),
        ev("order.placed", at="2026-01-02T00:00:00Z", order_id="o3"),
    )
    row = contact(conn)
    assert (row["order_count"], row["lifetime_value"], row["last_order_at"]) == (3, 60.1, "2026-01-03T00:00:00Z")
    assert row["created_at"] == "2026-01-01T00:00:00Z"


def test_events_table_is_a_raw_copy(project, ev):
    first = ev("cart.updated", cart_id="k1", total="12.00")
    conn = project(first, ev("workspace.settings_changed", None, source="engine"))
    assert rows(conn, "SELECT workspace, id, position, contact_id, type, occurred_at, received_at, source, data"
                      " FROM events ORDER BY position")[0] == (
        "acme", first["id"], 1, "c1", "cart.updated", first["occurred_at"], first["received_at"], "api",
        '{"cart_id":"k1","total":"12.00"}')
    assert rows(conn, "SELECT contact_id, type FROM events WHERE position = 2") == [
        (None, "workspace.settings_changed")]


def test_which_events_create_a_contact(project, ev):
    conn = project(
        ev("cart.updated", "shopper", cart_id="k1"),
        ev("page.viewed", "reader"),
        ev("journey.entered", "engine-only", source="engine", journey_id="j", version=1),
        ev("message.opened", "engine-only", source="ses", message_id="m1"),
        ev("segment.entered", "engine-only", segment_id="s"),
    )
    assert [r[0] for r in rows(conn, "SELECT contact_id FROM contacts ORDER BY contact_id")] == ["reader", "shopper"]


def journey_path(ev, cid, *nodes, exit_reason=None, version=1, at="2026-01-01T10:00:00Z"):
    events = [ev("journey.entered", cid, at=at, source="engine", journey_id="welcome", version=version)]
    previous = None
    for node in nodes:
        events.append(ev("journey.node_entered", cid, at=at, source="engine", journey_id="welcome",
                         version=version, node_id=node, from_node=previous))
        previous = node
    if exit_reason:
        events.append(ev("journey.exited", cid, at=at, source="engine", journey_id="welcome", version=version,
                         node_id=previous, reason=exit_reason))
    return events


def test_node_stats_current_and_exited(project, ev):
    conn = project(
        *journey_path(ev, "a", "start", "w1", "s1", "end", exit_reason="completed"),
        *journey_path(ev, "b", "start", "w1"),
        *journey_path(ev, "c", "start", "w1", "s1"),
        *journey_path(ev, "d", "start", "w1", version=2),
    )
    stats = {(v, n): (e, c, x) for v, n, e, c, x in rows(
        conn, "SELECT version, node_id, entered, current, exited FROM journey_node_stats")}
    assert stats == {
        (1, "start"): (3, 0, 0), (1, "w1"): (3, 1, 0), (1, "s1"): (2, 1, 0), (1, "end"): (1, 0, 1),
        (2, "start"): (1, 0, 0), (2, "w1"): (1, 1, 0),
    }
    # an exit in the middle of the path (goal reached while waiting)
    project(ev("journey.goal_reached", "b", source="engine", journey_id="welcome", version=1, goal="order.placed"),
            ev("journey.exited", "b", source="engine", journey_id="welcome", version=1, node_id="w1", reason="goal"))
    assert rows(conn, "SELECT entered, current, exited FROM journey_node_stats WHERE version = 1 AND node_id = 'w1'"
                ) == [(3, 0, 1)]


def test_journey_instances_track_entries_exits_and_goals(project, ev):
    conn = project(
        *journey_path(ev, "a", "start", "w1", at="2026-01-01T10:00:00Z"),
        ev("journey.goal_reached", "a", at="2026-01-02T10:00:00Z", source="engine", journey_id="welcome",
           version=1, goal="order.placed"),
        ev("journey.exited", "a", at="2026-01-02T10:00:00Z", source="engine", journey_id="welcome", version=1,
           node_id="w1", reason="goal"),
    )
    cols = "version, state, node_id, entered_at, updated_at, exited_at, exit_reason, entries, goals"
    assert rows(conn, f"SELECT {cols} FROM journey_instances WHERE contact_id = 'a'") == [
        (1, "done", "w1", "2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-02T10:00:00Z", "goal", 1, 1)]
    project(*journey_path(ev, "a", "start", at="2026-02-01T10:00:00Z", version=2))
    assert rows(conn, f"SELECT {cols} FROM journey_instances WHERE contact_id = 'a'") == [
        (2, "active", "start", "2026-02-01T10:00:00Z", "2026-02-01T10:00:00Z", None, None, 2, 1)]


def message(conn, mid="m1"):
    cur = conn.execute("SELECT * FROM messages WHERE message_id = ?", (mid,))
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row))


def msg(ev, kind, at, **data):
    return ev(f"message.{kind}", at=at, source="engine", message_id="m1", **data)


def test_message_funnel_progresses(project, ev):
    conn = project(msg(ev, "queued", "2026-01-01T10:00:00Z", journey_id="welcome", version=1, node_id="s1",
                       channel="email", template="hello"))
    assert message(conn)["status"] == "queued"
    project(msg(ev, "sent", "2026-01-01T10:00:01Z", channel="email", provider="outbox", to="a@example.com"))
    assert (message(conn)["status"], message(conn)["provider"]) == ("sent", "outbox")
    project(msg(ev, "delivered", "2026-01-01T10:00:02Z"), msg(ev, "opened", "2026-01-01T11:00:00Z"),
            msg(ev, "opened", "2026-01-01T12:00:00Z"), msg(ev, "clicked", "2026-01-01T11:05:00Z", url="https://x"))
    row = message(conn)
    assert {k: row[k] for k in ("workspace", "contact_id", "journey_id", "version", "node_id", "channel",
                                "template", "status", "queued_at", "sent_at", "delivered_at", "opened_at",
                                "clicked_at", "bounced_at")} == {
        "workspace": "acme", "contact_id": "c1", "journey_id": "welcome", "version": 1, "node_id": "s1",
        "channel": "email", "template": "hello", "status": "clicked", "queued_at": "2026-01-01T10:00:00Z",
        "sent_at": "2026-01-01T10:00:01Z", "delivered_at": "2026-01-01T10:00:02Z",
        "opened_at": "2026-01-01T11:00:00Z", "clicked_at": "2026-01-01T11:05:00Z", "bounced_at": None}


def test_message_reports_out_of_order_keep_the_furthest_status(project, ev):
    conn = project(msg(ev, "opened", "2026-01-01T11:00:00Z"), msg(ev, "delivered", "2026-01-01T10:00:02Z"),
                   msg(ev, "queued", "2026-01-01T10:00:00Z", journey_id="welcome", version=1, node_id="s1",
                       channel="email", template="hello", broadcast_id=None),
                   msg(ev, "sent", "2026-01-01T10:00:01Z", provider="ses"))
    row = message(conn)
    assert (row["status"], row["journey_id"], row["template"], row["provider"]) == ("opened", "welcome", "hello", "ses")
    assert (row["queued_at"], row["sent_at"], row["delivered_at"], row["opened_at"]) == (
        "2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", "2026-01-01T10:00:02Z", "2026-01-01T11:00:00Z")


def test_suppressed_failed_and_bounced_messages(project, ev):
    conn = project(
        ev("message.suppressed", source="engine", message_id="s", journey_id="j", version=1, node_id="n",
           channel="sms", reason="no_address"),
        ev("message.queued", source="engine", message_id="f", channel="email", template={"subject": "Hi"}),
        ev("message.failed", source="engine", message_id="f", reason="smtp 421"),
        ev("message.sent", source="engine", message_id="b", provider="ses"),
        ev("message.bounced", source="ses", message_id="b", bounce_type="hard"),
        ev("message.delivered", source="ses", message_id="x"),  # arrives without any earlier report
        ev("message.opened", source="ses"),  # no message id: kept in events only
    )
    assert (message(conn, "s")["status"], message(conn, "s")["reason"], message(conn, "s")["channel"]) == (
        "suppressed", "no_address", "sms")
    assert (message(conn, "f")["status"], message(conn, "f")["reason"], message(conn, "f")["template"]) == (
        "failed", "smtp 421", '{"subject":"Hi"}')
    assert (message(conn, "b")["status"], message(conn, "b")["reason"]) == ("bounced", "hard")
    assert message(conn, "x")["status"] == "delivered"
    assert rows(conn, "SELECT COUNT(*) FROM messages") == [(4,)]


def test_erasure_removes_personal_data_and_keeps_counts(project, ev):
    conn = project(
        ev("contact.created", email="ann@example.com", first_name="Ann", tags=["vip"]),
        ev("order.placed", order_id="o1", amount="10"),
        ev("contact.created", "c2", email="bob@example.com"),
        *journey_path(ev, "c1", "start", "w1"),
        msg(ev, "queued", "2026-01-01T10:00:00Z", journey_id="welcome", channel="email", template="t"),
        ev("contact.deleted"),
        ev("journey.exited", source="engine", journey_id="welcome", version=1, node_id="w1",
           reason="contact_deleted"),
    )
    assert contact(conn) is None and contact(conn, "c2") is not None
    assert rows(conn, "SELECT COUNT(*) FROM contact_tags WHERE contact_id = 'c1'") == [(0,)]
    datas = rows(conn, "SELECT type, data FROM events WHERE contact_id = 'c1' ORDER BY position")
    assert all(data == "{}" for kind, data in datas if kind != "journey.exited")
    assert "ann@example.com" not in str(rows(conn, "SELECT * FROM events"))
    assert rows(conn, "SELECT data FROM events WHERE contact_id = 'c2'") == [('{"email":"bob@example.com"}',)]
    assert message(conn)["status"] == "queued"
    assert rows(conn, "SELECT state, exit_reason FROM journey_instances WHERE contact_id = 'c1'") == [
        ("done", "contact_deleted")]
    assert rows(conn, "SELECT SUM(entered), SUM(current), SUM(exited) FROM journey_node_stats") == [(2, 0, 1)]
    # a new sign-up under the same id starts a fresh profile
    project(ev("contact.created", email="new@example.com"))
    assert orjson.loads(contact(conn)["attributes"]) == {"email": "new@example.com"}
    assert contact(conn)["order_count"] == 0


def test_workspaces_are_kept_apart(project, ev):
    conn = project(ev("contact.created", email="a@x.io"), ev("contact.created", workspace="other", email="b@x.io"))
    assert rows(conn, "SELECT workspace, email FROM contacts ORDER BY workspace") == [
        ("acme", "a@x.io"), ("other", "b@x.io")]


def test_malformed_data_is_kept_but_does_not_stop_the_projector(project, ev):
    conn = project(
        ev("order.placed", order_id="o1", amount="not a number"),
        ev("order.placed", order_id="o2", amount="NaN"),
        ev("journey.entered", source="engine", version=1),                       # no journey_id
        ev("journey.node_entered", source="engine", journey_id="j", version="x"),  # no node_id
        ev("journey.exited", source="engine", journey_id="j", reason="dead_end"),  # no node, no instance
        ev("message.sent", source="engine", message_id=42, version="v1"),
    )
    assert (contact(conn)["order_count"], contact(conn)["lifetime_value"]) == (2, 0.0)
    assert rows(conn, "SELECT COUNT(*) FROM events") == [(6,)]
    assert rows(conn, "SELECT COUNT(*) FROM journey_node_stats") == [(0,)]
    assert rows(conn, "SELECT message_id, version, status FROM messages") == [("42", None, "sent")]
