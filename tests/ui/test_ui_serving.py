"""The API serves the built web app at ``/`` and for its client-side routes, never in
place of the API, its docs, webhooks or tracking links; without a build, the placeholder
page. Plus the editor's pickers: ``GET /v1/library/journeys`` and ``GET /v1/event-types``."""

from __future__ import annotations

import pytest

from journeys.library import library_journeys
from tests.support import ADMIN, settle

INDEX = "<!doctype html><title>Switchback app</title><div id=root></div>"


def make_client(tmp_path, monkeypatch, built: bool):
    from fastapi.testclient import TestClient

    import api.app
    from api.app import create_app
    from api.services import Services
    from api.settings import Settings

    ui = tmp_path / "ui"
    if built:
        (ui / "assets").mkdir(parents=True)
        (ui / "index.html").write_text(INDEX)
        (ui / "assets" / "index-abc.js").write_text("console.log('app')")
        (ui / "robots.txt").write_text("User-agent: *")
    monkeypatch.setattr(api.app, "ui_dir", lambda: ui)
    services = Services(Settings(data_dir=tmp_path / "data", admin_key=ADMIN, test_clock=True, port=8000))
    services.ensure_admin_key()
    return TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN}"})


@pytest.fixture
def built_client(tmp_path, monkeypatch):
    with make_client(tmp_path, monkeypatch, built=True) as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/journeys", "/journeys/abandoned-cart", "/journeys/x/versions/2",
                                  "/contacts/ann.smith@example.com", "/contacts/import", "/sign-in", "/v1x", "/docsy",
                                  "/templates/promo", "/broadcasts/new", "/segments/lapsed/members", "/offers",
                                  "/analytics", "/outbox"])
def test_ui_pages_get_the_app(built_client, path):
    response = built_client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


def test_ui_assets_and_top_level_files_are_served(built_client):
    assert built_client.get("/assets/index-abc.js").text == "console.log('app')"
    assert built_client.get("/robots.txt").text == "User-agent: *"
    assert built_client.get("/assets/missing.js").status_code == 404
    assert built_client.get("/%2e%2e/%2e%2e/pyproject.toml").text == INDEX  # never a file outside the build


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/v1", "/webhooks/nothing", "/o/x/y/z", "/healthz/x"])
def test_ui_never_answers_for_the_api(built_client, path):
    response = built_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")


def test_ui_leaves_the_api_docs_and_links_alone(built_client):
    assert built_client.get("/healthz").json()
    assert built_client.get("/openapi.json").json()["info"]["title"] == "Switchback"
    assert "swagger" in built_client.get("/docs").text.lower()
    assert built_client.get("/v1/journeys").json() == {"items": []}
    for path in ("/o/bad-token", "/c/bad-token", "/u/bad-token", "/q/bad-token"):
        assert built_client.get(path, follow_redirects=False).text != INDEX, path
    assert built_client.post("/v1/nothing-here").status_code == 404


def test_ui_placeholder_without_a_build(tmp_path, monkeypatch):
    with make_client(tmp_path, monkeypatch, built=False) as client:
        assert "Switchback is running" in client.get("/").text
        assert client.get("/journeys").status_code == 404


def test_ui_library_lists_the_ready_made_journeys(app_client):
    items = app_client.get("/v1/library/journeys").json()["items"]
    assert [j["id"] for j in items] == [j["id"] for j in library_journeys()]
    assert {"welcome-series", "abandoned-cart", "win-back", "qr-offer-broadcast"} <= {j["id"] for j in items}
    assert all(j["nodes"] and j["edges"] for j in items)
    secret = app_client.post("/v1/keys", json={"role": "ingest"}).json()["secret"]
    refused = app_client.get("/v1/library/journeys", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 403


def test_ui_event_types_seen_first_then_the_catalogue(app_client):
    before = app_client.get("/v1/event-types").json()["items"]
    assert all(t["seen"] == 0 for t in before)
    assert "order.placed" in {t["type"] for t in before}
    batch = [{"type": "contact.created", "contact_id": "a", "data": {"email": "a@example.com"}},
             {"type": "signup.completed", "contact_id": "a", "data": {}},
             {"type": "signup.completed", "contact_id": "a", "data": {}}]
    assert app_client.post("/v1/events", json={"batch": batch}).status_code == 202
    settle(app_client)
    items = app_client.get("/v1/event-types").json()["items"]
    assert items[0] == {"type": "signup.completed", "seen": 2, "description": "custom event"}
    assert items[1]["type"] == "contact.created" and items[1]["seen"] == 1
    kinds = [t["type"] for t in items]
    assert len(kinds) == len(set(kinds))
    assert all(t["seen"] == 0 for t in items[2:])
