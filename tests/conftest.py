"""Shared fixtures: an in-process app (real SQLite files, real threads)."""

from __future__ import annotations

import uuid

import pytest

from tests.support import ADMIN, PG, pg_unreachable


@pytest.fixture
def pg_schema():
    """A fresh PostgreSQL schema for one test, dropped afterwards (skips without PostgreSQL)."""
    if pg_unreachable():
        pytest.skip(pg_unreachable())
    from engine.pgconfig import drop_schema

    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    yield name
    drop_schema(PG, name)


@pytest.fixture
def app_client(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import Services
    from api.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", admin_key=ADMIN, test_clock=True, port=8000)
    services = Services(settings)
    services.ensure_admin_key()
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        client.services = services
        yield client
