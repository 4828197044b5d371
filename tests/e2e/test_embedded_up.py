"""End to end: ``switchback up`` as a real subprocess on a free port. Events go in over
HTTP, the abandoned-cart journey runs on a virtual clock, the outbox and the node
stats are checked; then the process is killed with SIGKILL while contacts wait (and
again right after their timers fell due), restarted, and every timer must fire
exactly once with no message sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from tests.support import ADMIN, ROOT, free_port, settle

pytestmark = pytest.mark.services

TEMPLATES = {
    "cart-reminder": {"channel": "email", "subject": "You left something, {{ contact.first_name | default('friend') }}",
                      "html": "<p>Cart {{ trigger.data.cart_id }} is waiting.</p>", "text": "Cart {{ trigger.data.cart_id }}"},
    "cart-offer": {"channel": "email", "subject": "10% off", "text": "Here is 10% off, {{ contact.first_name }}"},
    "cart-last-call": {"channel": "email", "subject": "Last call", "text": "Last call for cart {{ trigger.data.cart_id }}"},
}
N = 60  # contacts with an abandoned cart


class Server:
    def __init__(self, data_dir):
        self.data_dir, self.port, self.proc = data_dir, free_port(), None

    def start(self):
        env = {**os.environ, "SWITCHBACK_TEST_CLOCK": "1", "SWITCHBACK_ADMIN_KEY": ADMIN, "PYTHONUNBUFFERED": "1"}
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "up", "--port", str(self.port),
                                      "--data-dir", str(self.data_dir)], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data_dir.parent / f"server-{self.port}.log").read_text()
            try:
                if self.client.get("/healthz").status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("switchback up did not become healthy in 30 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.client.close()
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "data").start()
    yield srv
    srv.stop()


def outbox(client):
    return client.get("/v1/outbox", params={"limit": 500}).json()["items"]


def test_abandoned_cart_survives_sigkill(server, tmp_path):
    c = server.client
    for template_id, body in TEMPLATES.items():
        assert c.put(f"/v1/templates/{template_id}", json=body).status_code == 200
    graph = json.loads((ROOT / "journeys/library/abandoned-cart.json").read_text())
    assert c.put("/v1/journeys/abandoned-cart", json=graph).json()["problems"] == []
    assert c.post("/v1/journeys/abandoned-cart/publish").status_code == 200

    contacts = [{"type": "contact.created", "contact_id": f"c{i}",
                 "data": {"email": f"c{i}@example.com", "first_name": f"N{i}", "tags": ["vip"] if i % 2 else []}}
                for i in range(N + 1)]
    carts = [{"type": "cart.updated", "contact_id": f"c{i}", "data": {"cart_id": f"k{i}"}} for i in range(N + 1)]
    assert c.post("/v1/events", json={"batch": contacts + carts}).status_code == 202
    # the buyer: c{N} orders its own cart; one more order for another cart must not match
    order = {"type": "order.placed", "contact_id": f"c{N}", "data": {"order_id": "o1", "cart_id": f"k{N}", "amount": "59.90"}}
    stray = {"type": "order.placed", "contact_id": "c0", "data": {"order_id": "o2", "cart_id": "other", "amount": "5"}}
    assert c.post("/v1/events", json={"batch": [order, stray]}).status_code == 202
    settle(c)

    stats = c.get("/v1/journeys/abandoned-cart/stats").json()
    assert stats["nodes"]["wait_order"]["current"] == N
    assert stats["nodes"]["bought"]["exited"] == 1
    assert outbox(c) == []

    # 4 hours later: every waiting contact gets exactly one reminder
    c.post("/v1/testing/clock/advance", json={"duration": "PT4H1M"})
    settle(c)
    sent = outbox(c)
    assert len(sent) == N and {m["subject"] for m in sent} >= {"You left something, N0"}
    assert c.get("/v1/contacts/c1").json()["journeys"][0]["node_id"] == "wait_day"

    # SIGKILL while everybody waits at wait_day; restart; nothing fires early
    server.kill()
    server.start()
    c = server.client
    settle(c)
    assert len(outbox(c)) == N

    # the day passes, and the process dies right after the timers fell due
    c.post("/v1/testing/clock/advance", json={"duration": "P1DT1M"})
    server.kill()
    server.start()
    c = server.client
    settle(c)
    sent = outbox(c)
    ids = Counter(m["message_id"] for m in sent)
    assert max(ids.values()) == 1, "a message was sent twice"
    per_contact = Counter(m["contact_id"] for m in sent)
    assert per_contact == {f"c{i}": 2 for i in range(N)}, "every due timer fires exactly once"
    subjects = Counter(m["subject"] for m in sent)
    assert subjects["10% off"] == N // 2 and subjects["Last call"] == N - N // 2

    stats = c.get("/v1/journeys/abandoned-cart/stats").json()
    assert stats["nodes"]["done"]["exited"] == N
    assert sum(n["current"] for n in stats["nodes"].values()) == 0
    detail = c.get("/v1/contacts/c1").json()
    assert detail["journeys"][0]["state"] == "done"
