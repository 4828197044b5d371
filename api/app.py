"""The FastAPI application: routes, error shape, and the built UI at ``/``.

The web UI (``ui/``, built by ``make ui`` into ``api/static/ui/``) is served at ``/`` and
for its client-side routes (``/journeys/...``, ``/contacts/...``); paths of the API,
its docs, webhooks and tracking links are never answered with the UI. Without a build,
``/`` shows the placeholder page ``api/static/index.html``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.convertors import Convertor, register_url_convertor

from api import errors
from api.errors import ORJSONResponse
from api.routes import (broadcasts, contacts, events, experiments, journeys, library, offers, segments, simulate,
                        system, template_tools, templates, tracking, ui_support, users, webhooks)
from api.services import Services


# first path segments that belong to the API, its docs, webhooks and links in messages
RESERVED = ("v1", "docs", "redoc", "openapi.json", "webhooks", "o", "c", "u", "q", "healthz", "assets")


class UiPath(Convertor):
    """Any path whose first segment is not one of ``RESERVED`` (those keep their 404s)."""

    regex = "(?!(?:" + "|".join(r.replace(".", r"\.") for r in RESERVED) + ")(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("uipath", UiPath())


def static_dir() -> Path:
    return Path(str(resources.files("api") / "static"))


def ui_dir() -> Path:
    """Where ``make ui`` puts the built web app (``index.html`` + ``assets/``)."""
    return static_dir() / "ui"


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
                  description="Event-sourced journey orchestration. Every /v1 route needs `Authorization: Bearer <api key>` "
                              "or a signed-in session cookie (with `X-CSRF-Token` on changes; docs/users.md).")
    app.state.services = services
    errors.install(app)
    for module in (system, events, contacts, journeys, templates, broadcasts, offers, tracking, webhooks, segments,
                   experiments, library, users, ui_support, simulate, template_tools):
        app.include_router(module.router)
    serve_ui(app)
    return app


def serve_ui(app: FastAPI) -> None:
    """The built web app at ``/`` and its client-side routes, else the placeholder page."""
    built = ui_dir()
    if not (built / "index.html").is_file():
        placeholder = static_dir()
        if (placeholder / "assets").is_dir():
            app.mount("/assets", StaticFiles(directory=placeholder / "assets"), name="assets")

        @app.get("/", include_in_schema=False)
        def index():
            return FileResponse(placeholder / "index.html")

        return
    if (built / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=built / "assets"), name="assets")
    root = built.resolve()

    @app.get("/{path:uipath}", include_in_schema=False)
    def web_app(path: str):
        if path:
            wanted = (built / path).resolve()
            if wanted.is_file() and wanted.is_relative_to(root):  # favicon and other top-level files
                return FileResponse(wanted)
        # the app's pages are routed in the browser; index.html is never cached so a new build shows at once
        return FileResponse(built / "index.html", headers={"Cache-Control": "no-cache"})
