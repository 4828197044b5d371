"""Helpers for the API tests: keys per role, the library journey and its templates, what
is stored (log, read model, definitions), and a real HTTP server for the CLI tests.

``app_client`` (tests/conftest.py) is the in-process app, authorized as admin.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import httpx
import orjson
import pytest

from journeys.library import library_journey, library_templates
from tests.support import ADMIN, free_port, settle

CART_TEMPLATES = ("cart-reminder", "cart-offer", "cart-last-call")


def load_templates(client, ids: tuple[str, ...] = CART_TEMPLATES) -> None:
    """Store the library templates ``ids`` through the API."""
    for template in library_templates():
        if template["id"] in ids:
            body = {k: v for k, v in template.items() if k != "id"}
            response = client.put(f"/v1/templates/{template['id']}", json=body)
            assert response.status_code == 200, response.text


def publish_cart(client) -> dict[str, Any]:
    """Templates + the library abandoned-cart journey, published as version 1."""
    load_templates(client)
    saved = client.put("/v1/journeys/abandoned-cart", json=library_journey("abandoned-cart"))
    assert saved.status_code == 200 and saved.json()["problems"] == [], saved.text
    published = client.post("/v1/journeys/abandoned-cart/publish")
    assert published.status_code == 200, published.text
    return published.json()


def log_records(client) -> list[dict[str, Any]]:
    """Every event in the log, in order."""
    conn = client.services.log.connection()
    return [orjson.loads(row[0]) for row in conn.execute("SELECT body FROM log ORDER BY position")]


def log_ids(client) -> list[str]:
    """Ids of the events that came in from outside (not the engine's own), in log order."""
    return [r["id"] for r in log_records(client) if r["source"] not in ("engine", "ses", "twilio")]


def contact_ids(client) -> list[str]:
    """Contact ids in the read model (after the projector caught up)."""
    settle(client)
    ids, cursor = [], None
    while True:
        page = client.get("/v1/contacts", params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
        ids += [c["contact_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def error_locs(response) -> list[str]:
    return [d["loc"] for d in response.json()["error"].get("details", [])]


@pytest.fixture
def role_headers(app_client) -> Callable[[str], dict[str, str]]:
    """``role_headers("analyst")``: Authorization headers of a new key with that role."""

    def make(role: str) -> dict[str, str]:
        response = app_client.post("/v1/keys", json={"role": role, "name": f"{role} key"})
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['secret']}"}

    return make


class LiveServer:
    """``create_app(services)`` served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, data_dir):
        import uvicorn

        from api.app import create_app
        from api.services import Services
        from api.settings import Settings

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.services = Services(Settings(data_dir=data_dir, admin_key=ADMIN, test_clock=True, port=self.port))
        self.services.ensure_admin_key()
        config = uvicorn.Config(create_app(self.services), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        self.client.services = self.services  # so the helpers above work with it too

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def live_server(tmp_path):
    server = LiveServer(tmp_path / "server-data").start()
    try:
        yield server
    finally:
        server.stop()
