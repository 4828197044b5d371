"""Shared fixtures: an in-process app (real SQLite files, real threads)."""

from __future__ import annotations

import pytest

from tests.support import ADMIN


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
