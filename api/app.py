"""The FastAPI application: routes, error shape, and the built UI at ``/``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api import errors
from api.errors import ORJSONResponse
from api.routes import (broadcasts, contacts, events, experiments, journeys, offers, segments, system, templates,
                        tracking, webhooks)
from api.services import Services


def static_dir() -> Path:
    return Path(str(resources.files("api") / "static"))


def create_app(services: Services, manage: bool = True, extras: list | None = None) -> FastAPI:
    """``manage``: start and stop the background threads with the app; ``extras``: more
    objects with ``start()``/``stop()`` (the demo feed) run after the services."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if manage:
            services.start()
        for extra in extras or ():
            extra.start()
        try:
            yield
        finally:
            for extra in reversed(extras or ()):
                extra.stop()
            if manage:
                services.stop()

    app = FastAPI(title="Switchback", version="0.1.0", default_response_class=ORJSONResponse, lifespan=lifespan,
                  description="Event-sourced journey orchestration. Every /v1 route needs `Authorization: Bearer <api key>`.")
    app.state.services = services
    errors.install(app)
    for module in (system, events, contacts, journeys, templates, broadcasts, offers, tracking, webhooks, segments,
                   experiments):
        app.include_router(module.router)
    ui = static_dir()
    if (ui / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=ui / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(ui / "index.html")

    return app
