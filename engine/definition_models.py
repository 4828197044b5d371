"""What marketers define, as event-sourced aggregates: journeys, message templates, API keys,
segments.

The domain model behind ``engine.definitions`` (which stores these with
``eventsourcing``). Each ``@event`` method is the command, the recorded event and the
state change at once; a public command checks the rule first and then calls its
private event method, so replaying old events never re-checks today's rules.

Aggregate ids are version-5 UUIDs of a readable name (``journey:<workspace>:<id>``,
``template:...``, ``key:<sha256 of the secret>``, ``workspace:<name>``), so an aggregate
is found from what the caller knows, in one read. The stored event topics name the
classes of this module: renaming a class or this module needs a topic alias.
"""

from __future__ import annotations

import re
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

__all__ = [
    "NAME_PATTERN",
    "ROLES",
    "ApiKey",
    "DefinitionError",
    "JourneyDefinition",
    "MessageTemplate",
    "SegmentDefinition",
    "WorkspaceIndex",
    "WorkspaceSegments",
    "Workspaces",
    "iso",
]

# Fixed forever: every stored aggregate id is derived from it.
NAMESPACE = UUID("5b0c2f6e-8a41-4b8e-9f3d-2c7a1e6d4b90")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
ROLES = ("admin", "marketer", "analyst", "ingest", "redeemer")


class DefinitionError(Exception):
    """A refused request. ``code`` is stable (``not_found``, ``invalid``, ``conflict``);
    ``message`` says how to fix it; ``problems`` lists validation problems, if any."""

    def __init__(self, code: str, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.problems is not None:
            body["problems"] = self.problems
        return body


def iso(moment: datetime) -> str:
    """An event timestamp as an ISO-8601 UTC string, e.g. ``2026-11-21T10:00:00.123456Z``."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _id(*parts: str) -> UUID:
    return uuid5(NAMESPACE, ":".join(parts))


class Workspaces(Aggregate):
    """The one list of all workspaces (so the runtime can load every published journey)."""

    ID = _id("workspaces")

    @staticmethod
    def create_id() -> UUID:
        return Workspaces.ID

    @event("Started")
    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, workspace: str) -> None:
        if workspace not in self.names:
            self._added(workspace)

    @event("WorkspaceAdded")
    def _added(self, workspace: str) -> None:
        self.names.append(workspace)


class WorkspaceIndex(Aggregate):
    """What one workspace holds: its journeys, templates and API keys, in order of creation."""

    @staticmethod
    def create_id(workspace: str) -> UUID:
        return _id("workspace", workspace)

    @event("Opened")
    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.journeys: list[str] = []
        self.templates: list[str] = []
        self.keys: list[str] = []

    def add_journey(self, journey_id: str) -> None:
        if journey_id not in self.journeys:
            self._journey_added(journey_id)

    def add_template(self, template_id: str) -> None:
        if template_id not in self.templates:
            self._template_added(template_id)

    def remove_template(self, template_id: str) -> None:
        if template_id in self.templates:
            self._template_removed(template_id)

    def add_key(self, key_id: str) -> None:
        if key_id not in self.keys:
            self._key_added(key_id)

    @event("JourneyAdded")
    def _journey_added(self, journey_id: str) -> None:
        self.journeys.append(journey_id)

    @event("TemplateAdded")
    def _template_added(self, template_id: str) -> None:
        self.templates.append(template_id)

    @event("TemplateRemoved")
    def _template_removed(self, template_id: str) -> None:
        self.templates.remove(template_id)

    @event("KeyAdded")
    def _key_added(self, key_id: str) -> None:
        self.keys.append(key_id)


class JourneyDefinition(Aggregate):
    """A journey: its editable draft and its published versions, which never change.

    Status moves draft -> published <-> paused, and any status -> archived; publishing
    again (from any status) records version N+1 and makes the journey published.
    """

    @staticmethod
    def create_id(workspace: str, journey_id: str) -> UUID:
        return _id("journey", workspace, journey_id)

    @event("Drafted")
    def __init__(self, workspace: str, journey_id: str, draft: dict[str, Any]) -> None:
        self.workspace = workspace
        self.journey_id = journey_id
        self.draft = draft
        self.status = "draft"
        self.versions: list[dict[str, Any]] = []  # {"version", "published_at", "graph"}

    @property
    def name(self) -> str:
        return str(self.draft.get("name") or self.journey_id)

    @property
    def current_version(self) -> int | None:
        return self.versions[-1]["version"] if self.versions else None

    def save_draft(self, draft: dict[str, Any]) -> None:
        if draft != self.draft:
            self._draft_saved(draft)

    @event("DraftSaved")
    def _draft_saved(self, draft: dict[str, Any]) -> None:
        self.draft = draft

    class Published(Aggregate.Event):
        """A frozen copy of the draft became version N (its time is the event's timestamp)."""

        graph: dict[str, Any]

        def apply(self, aggregate: JourneyDefinition) -> None:  # type: ignore[override]
            aggregate.versions.append(
                {"version": self.graph["version"], "published_at": iso(self.timestamp), "graph": self.graph}
            )
            aggregate.status = "published"

    def publish(self) -> dict[str, Any]:
        """Freeze the current draft as the next version; returns the published graph."""
        graph = deepcopy(self.draft)
        graph["version"] = len(self.versions) + 1
        graph["status"] = "published"
        self.trigger_event(self.Published, graph=graph)
        return deepcopy(graph)

    def pause(self) -> None:
        if self.status != "published":
            raise DefinitionError(
                "conflict",
                f"journey '{self.journey_id}' is {self.status}; only a published journey can be paused"
                + (" (publish it first)" if self.status == "draft" else ""),
            )
        self._paused()

    def resume(self) -> None:
        if self.status != "paused":
            raise DefinitionError(
                "conflict", f"journey '{self.journey_id}' is {self.status}; only a paused journey can be resumed"
            )
        self._resumed()

    def archive(self) -> None:
        if self.status != "archived":
            self._archived()

    @event("Paused")
    def _paused(self) -> None:
        self.status = "paused"

    @event("Resumed")
    def _resumed(self) -> None:
        self.status = "published"

    @event("Archived")
    def _archived(self) -> None:
        self.status = "archived"


class MessageTemplate(Aggregate):
    """A message template (email subject/html/text, or SMS/WhatsApp text)."""

    @staticmethod
    def create_id(workspace: str, template_id: str) -> UUID:
        return _id("template", workspace, template_id)

    @event("Created")
    def __init__(self, workspace: str, template_id: str, content: dict[str, Any]) -> None:
        self.workspace = workspace
        self.template_id = template_id
        self.content = content
        self.deleted = False

    def edit(self, content: dict[str, Any]) -> None:
        if self.deleted or content != self.content:
            self._edited(content)

    @event("Edited")
    def _edited(self, content: dict[str, Any]) -> None:
        self.content = content
        self.deleted = False

    def delete(self) -> None:
        if not self.deleted:
            self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True


class ApiKey(Aggregate):
    """An API key, stored as the SHA-256 hash of its secret (the secret is never stored)."""

    @staticmethod
    def create_id(secret_hash: str) -> UUID:
        return _id("key", secret_hash)

    @event("Issued")
    def __init__(self, workspace: str, secret_hash: str, role: str, name: str) -> None:
        self.workspace = workspace
        self.secret_hash = secret_hash
        self.role = role
        self.name = name
        self.revoked = False

    def revoke(self) -> None:
        if not self.revoked:
            self._revoked()

    @event("Revoked")
    def _revoked(self) -> None:
        self.revoked = True

    def info(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "workspace": self.workspace,
            "role": self.role,
            "name": self.name,
            "created_at": iso(self.created_on),
            "revoked": self.revoked,
        }


class WorkspaceSegments(Aggregate):
    """The segment ids of one workspace, in order of creation (deleted ones removed)."""

    @staticmethod
    def create_id(workspace: str) -> UUID:
        return _id("segments", workspace)

    @event("Opened")
    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.segments: list[str] = []

    def add(self, segment_id: str) -> None:
        if segment_id not in self.segments:
            self._added(segment_id)

    def remove(self, segment_id: str) -> None:
        if segment_id in self.segments:
            self._removed(segment_id)

    @event("SegmentAdded")
    def _added(self, segment_id: str) -> None:
        self.segments.append(segment_id)

    @event("SegmentRemoved")
    def _removed(self, segment_id: str) -> None:
        self.segments.remove(segment_id)


class SegmentDefinition(Aggregate):
    """A segment: ``kind`` dynamic (members follow ``rule``) or static (members are set
    by imports). ``definition`` holds name, description, kind and rule; ``version``
    counts the changes, deletion included (membership events name the version they
    were computed from)."""

    @staticmethod
    def create_id(workspace: str, segment_id: str) -> UUID:
        return _id("segment", workspace, segment_id)

    @event("Created")
    def __init__(self, workspace: str, segment_id: str, definition: dict[str, Any]) -> None:
        self.workspace = workspace
        self.segment_id = segment_id
        self.definition = definition
        self.version = 1
        self.deleted = False

    def edit(self, definition: dict[str, Any]) -> bool:
        """Record a change; False when nothing changed."""
        if not self.deleted and definition == self.definition:
            return False
        self._edited(definition)
        return True

    @event("Edited")
    def _edited(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.version += 1
        self.deleted = False

    def delete(self) -> None:
        if not self.deleted:
            self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True
        self.version += 1
