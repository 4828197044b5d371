"""Ready-made journeys and their message templates, shipped as package data.

``journeys/library/*.json`` holds one React Flow graph per journey (welcome series,
abandoned cart, win-back, QR offer broadcast) plus ``templates.json``, the message
templates they send. The demo seeds a workspace from them and the editor offers
them under "new from template". Every call returns fresh dicts: callers may edit
what they get without touching the shipped files.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

TEMPLATES_FILE = "templates.json"


def _directory():
    return files("journeys").joinpath("library")


def _load(name: str) -> Any:
    return json.loads(_directory().joinpath(name).read_text(encoding="utf-8"))


def library_journeys() -> list[dict[str, Any]]:
    """All ready-made journeys, sorted by id."""
    names = sorted(
        entry.name for entry in _directory().iterdir()
        if entry.name.endswith(".json") and entry.name != TEMPLATES_FILE
    )
    return sorted((_load(name) for name in names), key=lambda journey: journey["id"])


def library_templates() -> list[dict[str, Any]]:
    """The message templates the ready-made journeys send (``id``, ``name``, ``channel``,
    ``subject`` and ``html`` for email, ``text``)."""
    return _load(TEMPLATES_FILE)


def library_journey(journey_id: str) -> dict[str, Any]:
    """One ready-made journey by id; ``KeyError`` names the ids there are."""
    for journey in library_journeys():
        if journey["id"] == journey_id:
            return journey
    known = ", ".join(j["id"] for j in library_journeys())
    raise KeyError(f"no library journey '{journey_id}'; there are: {known}")
