"""The definitions store: journeys, message templates, API keys and segments, event-sourced.

``Definitions`` is the one face the API and the runtimes use. Underneath, an
``eventsourcing`` application records every change of the aggregates in
``engine.definition_models``: drafts, published versions (immutable: a contact stays on
the version it entered with), pauses, template edits, issued and revoked keys.

The backend is configuration only: ``Definitions(sqlite_path=...)`` uses
``eventsourcing.sqlite``; ``Definitions.from_postgres(dsn, schema)`` uses
``eventsourcing.postgres`` (psycopg 3) in that schema, created if missing (see
``engine.pgconfig``); ``env`` (or the process environment) may choose any other, e.g.
``{"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": ...}``.
With none of these, an in-memory SQLite database is used (tests, demos).
The notification log (``changes()``, ``engine.relay``) is the same on every backend.

Writes are serialized by a lock (the API serves several threads); a concurrent write
from another process shows up as ``DefinitionError("conflict")``. Readers poll
``changes()``, which increases with every saved event.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from copy import deepcopy
from pathlib import Path
from typing import Any, Iterator, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError

from engine.aggregates import find_aggregate
from engine.definition_models import (
    NAME_PATTERN,
    ROLES,
    ApiKey,
    DefinitionError,
    JourneyDefinition,
    MessageTemplate,
    SegmentDefinition,
    WorkspaceIndex,
    Workspaces,
    iso,
)
from engine.plan import compile_plan
from engine.templates import check_syntax
from journeys.events import CHANNELS
from journeys.graph import Journey
from engine.segment_store import SegmentStore
from journeys.validation import Problem, errors, validate_journey

__all__ = ["ROLES", "DefinitionError", "Definitions"]

logger = logging.getLogger("switchback.definitions")
A = TypeVar("A", bound=Aggregate)
_KINDS = {JourneyDefinition: "journey", MessageTemplate: "template", ApiKey: "API key", WorkspaceIndex: "workspace",
          SegmentDefinition: "segment"}
MIN_SECRET = 16
MAX_TEMPLATE_PART = 500_000


class DefinitionsApp(Application):
    """The eventsourcing application (its env keys may be prefixed ``DEFINITIONS_``)."""

    name = "Definitions"
    env = {"AGGREGATE_CACHE_MAXSIZE": "2000"}


def _configured(env: dict[str, str] | None) -> bool:
    keys = ("PERSISTENCE_MODULE", "DEFINITIONS_PERSISTENCE_MODULE")
    return any(k in (env or {}) or k in os.environ for k in keys)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_name(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise DefinitionError(
            "invalid", f"{kind} {value!r} is not a valid id: use 1-100 letters, digits, '_' or '-'"
        )
    return value


class Definitions(SegmentStore):
    """Journeys, templates, segments and API keys of every workspace (see the module docstring)."""

    def __init__(self, sqlite_path: str | Path | None = None, env: dict[str, str] | None = None) -> None:
        config: dict[str, str] = {}
        if sqlite_path is not None:
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
            config = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(sqlite_path)}
        elif not _configured(env):
            config = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
        config.update(env or {})
        self.app = DefinitionsApp(env=config)
        self._lock = threading.RLock()

    @classmethod
    def from_postgres(cls, dsn: str, schema: str = "switchback", env: dict[str, str] | None = None) -> Definitions:
        """The store in PostgreSQL: ``dsn`` as psycopg takes it, tables in ``schema`` (created if missing).

        ``env`` adds or overrides eventsourcing settings (e.g. ``DEFINITIONS_POSTGRES_POOL_SIZE``).
        The password is passed to the connection pool only, never logged.
        """
        from engine.pgconfig import ddl_lock, describe, ensure_schema, postgres_env  # psycopg: distributed only

        config = postgres_env(dsn, schema, prefix=DefinitionsApp.name)
        config.update(env or {})
        ensure_schema(dsn, schema)
        logger.info("definitions store: PostgreSQL %s, schema %s", describe(dsn), schema)
        with ddl_lock(dsn, schema):  # its tables are created now; other processes may be starting too
            return cls(env=config)

    def close(self) -> None:
        self.app.close()

    # -- plumbing ---------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: UUID, label: str) -> A:
        try:
            aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, cls):
            raise DefinitionError("not_found", f"{_KINDS[cls]} {label} not found")
        return aggregate

    def _find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        return find_aggregate(self.app, cls, aggregate_id)

    def _save(self, *aggregates: Aggregate | None) -> None:
        try:
            self.app.save(*aggregates)
        except RecordConflictError:
            raise DefinitionError(
                "conflict", "this was changed elsewhere at the same time; reload and try again"
            ) from None

    def _index(self, workspace: str) -> WorkspaceIndex | None:
        return self._find(WorkspaceIndex, WorkspaceIndex.create_id(_check_name("workspace", workspace)))

    def _index_for_write(self, workspace: str) -> tuple[WorkspaceIndex, Workspaces | None]:
        """The workspace's index, opened (and the workspace registered) on first write."""
        index = self._index(workspace)
        if index is not None:
            return index, None
        registry = self._find(Workspaces, Workspaces.ID) or Workspaces()
        registry.add(workspace)
        return WorkspaceIndex(workspace), registry

    def _journey(self, workspace: str, journey_id: str) -> JourneyDefinition:
        _check_name("workspace", workspace)
        return self._get(
            JourneyDefinition, JourneyDefinition.create_id(workspace, journey_id),
            f"'{journey_id}' (workspace '{workspace}')",
        )

    def _template_ids(self, workspace: str) -> list[str]:
        index = self._index(workspace)
        return list(index.templates) if index else []

    def _journeys(self) -> Iterator[tuple[str, JourneyDefinition]]:
        registry = self._find(Workspaces, Workspaces.ID)
        for workspace in registry.names if registry else []:
            index = self._index(workspace)
            for journey_id in index.journeys if index else []:
                journey = self._find(JourneyDefinition, JourneyDefinition.create_id(workspace, journey_id))
                if journey is not None:
                    yield workspace, journey

    def changes(self) -> int:
        """A position that grows whenever anything is saved (the notification log's max id)."""
        return self.app.recorder.max_notification_id() or 0

    # -- journeys ---------------------------------------------------------------------

    @staticmethod
    def _journey_info(journey: JourneyDefinition, draft: bool = True) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": journey.journey_id,
            "name": journey.name,
            "status": journey.status,
            "current_version": journey.current_version,
            "created_at": iso(journey.created_on),
            "updated_at": iso(journey.modified_on),
        }
        if draft:
            info["draft"] = deepcopy(journey.draft)
            info["versions"] = [{"version": v["version"], "published_at": v["published_at"]} for v in journey.versions]
        return info

    def save_draft(self, workspace: str, journey: dict[str, Any]) -> dict[str, Any]:
        """Keep the editor's graph as the draft, even with problems; returns it with its problems.

        A graph that does not parse at all raises pydantic's ``ValidationError``.
        """
        _check_name("workspace", workspace)
        parsed = Journey.model_validate(journey)
        draft = parsed.to_json() | {"status": "draft", "version": 0}
        with self._lock:
            index, registry = self._index_for_write(workspace)
            problems = self._journey_problems(workspace, parsed, index.templates)
            aggregate = self._find(JourneyDefinition, JourneyDefinition.create_id(workspace, parsed.id))
            if aggregate is None:
                aggregate = JourneyDefinition(workspace, parsed.id, deepcopy(draft))
                index.add_journey(parsed.id)
            else:
                aggregate.save_draft(deepcopy(draft))
            self._save(aggregate, index, registry)
        return {"journey": draft, "problems": [p.as_dict() for p in problems]}

    def validate(self, workspace: str, journey_id: str) -> list[dict[str, Any]]:
        """Problems of the current draft (errors block publishing, warnings do not)."""
        journey = self._journey(workspace, journey_id)
        parsed = Journey.model_validate(journey.draft)
        return [p.as_dict() for p in self._journey_problems(workspace, parsed, self._template_ids(workspace))]

    def publish(self, workspace: str, journey_id: str) -> dict[str, Any]:
        """Freeze the draft as version N+1 and make the journey published; returns that graph."""
        with self._lock:
            journey = self._journey(workspace, journey_id)
            parsed = Journey.model_validate(journey.draft)
            problems = self._journey_problems(workspace, parsed, self._template_ids(workspace))
            blocking = errors(problems)
            if blocking:
                raise DefinitionError(
                    "invalid",
                    f"journey '{journey_id}' cannot be published until {len(blocking)} problem(s) are fixed,"
                    f" first: {blocking[0]}",
                    problems=[p.as_dict() for p in problems],
                )
            graph = journey.publish()
            try:
                compile_plan(Journey.model_validate(graph))
            except Exception as exc:  # the validator should have caught it; never publish what cannot run
                raise DefinitionError(
                    "invalid", f"journey '{journey_id}' cannot be compiled: {exc}",
                    problems=[{"code": "SB-000", "message": str(exc), "severity": "error"}],
                ) from None
            self._save(journey)
        return graph

    def _journey_problems(self, workspace: str, parsed: Journey, templates: list[str]) -> list[Problem]:
        """The validator's problems, with segment references checked against the defined
        segments. An undefined segment is a warning, not an error: its members may come
        from ``segment.entered`` events sent from outside (as before segments existed)."""
        problems = validate_journey(parsed, templates=templates, segments=self.segment_ids(workspace))
        return [Problem(p.code, f"{p.message.split(';')[0]} as a segment here: only segment.entered events sent "
                        "from outside put contacts in it (define it under /v1/segments)",
                        node=p.node, edge=p.edge, field=p.field, severity="warning")
                if p.code == "SB-011" else p for p in problems]

    def _transition(self, workspace: str, journey_id: str, command: str) -> dict[str, Any]:
        with self._lock:
            journey = self._journey(workspace, journey_id)
            getattr(journey, command)()
            self._save(journey)
        return self._journey_info(journey)

    def pause(self, workspace: str, journey_id: str) -> dict[str, Any]:
        """Stop moving contacts (only a published journey can be paused)."""
        return self._transition(workspace, journey_id, "pause")

    def resume(self, workspace: str, journey_id: str) -> dict[str, Any]:
        """Carry on a paused journey."""
        return self._transition(workspace, journey_id, "resume")

    def archive(self, workspace: str, journey_id: str) -> dict[str, Any]:
        """Retire the journey (publishing it again brings it back)."""
        return self._transition(workspace, journey_id, "archive")

    def get_journey(self, workspace: str, journey_id: str) -> dict[str, Any]:
        return self._journey_info(self._journey(workspace, journey_id))

    def get_version(self, workspace: str, journey_id: str, version: int) -> dict[str, Any]:
        """The published graph of ``version``, exactly as it was published."""
        journey = self._journey(workspace, journey_id)
        for entry in journey.versions:
            if entry["version"] == version:
                return deepcopy(entry["graph"])
        known = ", ".join(str(v["version"]) for v in journey.versions) or "none yet"
        raise DefinitionError("not_found", f"journey '{journey_id}' has no version {version}; published versions: {known}")

    def list_journeys(self, workspace: str) -> list[dict[str, Any]]:
        index = self._index(workspace)
        found = (self._find(JourneyDefinition, JourneyDefinition.create_id(workspace, j)) for j in index.journeys) if index else ()
        return [self._journey_info(j, draft=False) for j in found if j is not None]

    def published(self) -> list[tuple[str, dict[str, Any], str]]:
        """(workspace, latest published graph, "published"|"paused") of every live journey."""
        return [
            (workspace, deepcopy(journey.versions[-1]["graph"]), journey.status)
            for workspace, journey in self._journeys()
            if journey.status in ("published", "paused") and journey.versions
        ]

    def all_versions(self) -> list[tuple[str, dict[str, Any]]]:
        """(workspace, graph) of every published version (contacts may still be on old ones)."""
        return [(ws, deepcopy(v["graph"])) for ws, journey in self._journeys() for v in journey.versions]

    # -- templates --------------------------------------------------------------------

    @staticmethod
    def _template_info(template: MessageTemplate) -> dict[str, Any]:
        return deepcopy(template.content) | {
            "created_at": iso(template.created_on),
            "updated_at": iso(template.modified_on),
        }

    @staticmethod
    def _template_content(template: Any) -> dict[str, Any]:
        if not isinstance(template, dict):
            raise DefinitionError("invalid", "a template is an object with id, name, channel, subject, html, text")
        template_id = _check_name("template", template.get("id"))
        problems: list[dict[str, Any]] = []
        channel = template.get("channel", "email")
        if channel not in CHANNELS:
            problems.append({"field": "channel", "message": f"channel must be one of {', '.join(CHANNELS)}"})
        name = template.get("name") or template_id
        if not isinstance(name, str) or len(name) > 200:
            problems.append({"field": "name", "message": "name must be text of at most 200 characters"})
        content: dict[str, Any] = {"id": template_id, "name": name, "channel": channel}
        for part in ("subject", "html", "text"):
            value = template.get(part)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > MAX_TEMPLATE_PART:
                problems.append({"field": part, "message": f"{part} must be text of at most {MAX_TEMPLATE_PART} characters"})
            content[part] = value
        if channel == "email":
            if not content.get("subject"):
                problems.append({"field": "subject", "message": "an email needs a subject"})
            if not content.get("html") and not content.get("text"):
                problems.append({"field": "html", "message": "an email needs an html or a text part"})
        elif channel in CHANNELS and not content.get("text"):
            problems.append({"field": "text", "message": f"a {channel} message needs a text"})
        if not problems:
            problems = [{"field": e.field, "message": e.message} for e in check_syntax(content)]
        if problems:
            first = problems[0]
            raise DefinitionError("invalid", f"template '{template_id}': {first['field']}: {first['message']}", problems=problems)
        return content

    def save_template(self, workspace: str, template: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a template (``channel`` defaults to email); syntax errors refuse the save."""
        _check_name("workspace", workspace)
        content = self._template_content(template)
        with self._lock:
            index, registry = self._index_for_write(workspace)
            aggregate = self._find(MessageTemplate, MessageTemplate.create_id(workspace, content["id"]))
            if aggregate is None:
                aggregate = MessageTemplate(workspace, content["id"], deepcopy(content))
            else:
                aggregate.edit(deepcopy(content))
            index.add_template(content["id"])
            self._save(aggregate, index, registry)
        return self._template_info(aggregate)

    def _template(self, workspace: str, template_id: str) -> MessageTemplate:
        _check_name("workspace", workspace)
        label = f"'{template_id}' (workspace '{workspace}')"
        template = self._get(MessageTemplate, MessageTemplate.create_id(workspace, str(template_id)), label)
        if template.deleted:
            raise DefinitionError("not_found", f"template {label} not found (it was deleted)")
        return template

    def get_template(self, workspace: str, template_id: str) -> dict[str, Any]:
        return self._template_info(self._template(workspace, template_id))

    def list_templates(self, workspace: str) -> list[dict[str, Any]]:
        index = self._index(workspace)
        found = (self._find(MessageTemplate, MessageTemplate.create_id(workspace, t)) for t in index.templates) if index else ()
        return [self._template_info(t) for t in found if t is not None and not t.deleted]

    def delete_template(self, workspace: str, template_id: str) -> None:
        with self._lock:
            template = self._template(workspace, template_id)
            index, registry = self._index_for_write(workspace)
            template.delete()
            index.remove_template(template.template_id)
            self._save(template, index, registry)

    # -- API keys ---------------------------------------------------------------------

    def create_key(self, workspace: str, role: str, name: str = "") -> tuple[str, dict[str, Any]]:
        """A new key: returns (secret, info). The secret is shown once; only its hash is kept."""
        secret = "sb_" + secrets.token_urlsafe(32)
        return secret, self._register_key(workspace, secret, role, name)

    def _register_key(self, workspace: str, secret: str, role: str, name: str) -> dict[str, Any]:
        _check_name("workspace", workspace)
        if role not in ROLES:
            raise DefinitionError("invalid", f"role {role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(name, str) or len(name) > 200:
            raise DefinitionError("invalid", "a key name is text of at most 200 characters")
        with self._lock:
            index, registry = self._index_for_write(workspace)
            key = ApiKey(workspace, _hash(secret), role, name)
            index.add_key(str(key.id))
            self._save(key, index, registry)
        return key.info()

    def check_key(self, secret: str) -> dict[str, Any] | None:
        """The key's info, or None when the secret is unknown or revoked."""
        if not isinstance(secret, str) or not secret or len(secret) > 1000:
            return None
        digest = _hash(secret)
        key = self._find(ApiKey, ApiKey.create_id(digest))
        if key is None or not hmac.compare_digest(key.secret_hash, digest) or key.revoked:
            return None
        return key.info()

    def revoke_key(self, key_id: str) -> None:
        try:
            aggregate_id = UUID(str(key_id))
        except ValueError:
            raise DefinitionError("not_found", f"API key '{key_id}' not found") from None
        with self._lock:
            key = self._get(ApiKey, aggregate_id, f"'{key_id}'")
            key.revoke()
            self._save(key)

    def list_keys(self, workspace: str) -> list[dict[str, Any]]:
        """Every key of the workspace, revoked ones included (``"revoked": true``); never a secret."""
        index = self._index(workspace)
        found = (self._find(ApiKey, UUID(k)) for k in index.keys) if index else ()
        return [k.info() for k in found if k is not None]

    def ensure_admin_key(self, workspace: str, secret: str | None) -> tuple[str | None, bool]:
        """Make sure the workspace has an admin key.

        ``secret`` (e.g. from configuration) is registered as an admin key if new (a
        revoked one stays revoked). If the workspace then has no active admin key, one is
        generated and returned as ``(secret, True)``; otherwise ``(None, False)``.
        """
        _check_name("workspace", workspace)
        with self._lock:
            if secret:
                if len(secret) < MIN_SECRET:
                    raise DefinitionError(
                        "invalid",
                        f"the admin key must be at least {MIN_SECRET} characters; generate one with"
                        " python -c \"import secrets; print('sb_' + secrets.token_urlsafe(32))\"",
                    )
                known = self._find(ApiKey, ApiKey.create_id(_hash(secret)))
                if known is None:
                    self._register_key(workspace, secret, "admin", "admin (from configuration)")
                elif known.workspace != workspace or known.role != "admin":
                    raise DefinitionError(
                        "conflict", f"this secret is already a {known.role} key of workspace '{known.workspace}'; use another"
                    )
            if any(k["role"] == "admin" and not k["revoked"] for k in self.list_keys(workspace)):
                return None, False
            new_secret, _ = self.create_key(workspace, "admin", "admin (generated)")
            return new_secret, True
