"""The user directory: people who sign in to the web app with email and password.

A user has an email (unique per deployment, compared without regard to case: it is
stored in lower case), an argon2 password hash (``argon2.PasswordHasher``), a role
(``admin``, ``marketer``, ``analyst`` or ``redeemer``), a workspace and a disabled flag.
Users are ``User`` aggregates of their own ``eventsourcing`` application, like the offer
book: ``UserDirectory(sqlite_path)`` (embedded: ``<data-dir>/users.db``),
``UserDirectory.from_postgres(dsn, schema)`` (table ``userdirectory_events`` in that
schema), or an in-memory database. A user's aggregate id is the version-5 UUID of the
lower-cased email, so creating the same email twice conflicts in the recorder, across
processes too; the ``Roster`` aggregate lists every email for ``list``.

Each user carries a session *generation* (``api/sessions.py``): signing out, a new
password and disabling the account increment it, which ends every session issued before.

Failed sign-ins are counted per email in the same store (``api/sign_in_failures.py``, also
for emails nobody has, so a lock-out tells nothing about who exists): after
``FAILURE_LIMIT`` failures within ``FAILURE_WINDOW`` seconds, ``sign_in`` refuses with
:class:`TooManyAttempts` until the oldest of them leaves the window. Unknown emails are
checked against a dummy hash, so they cost the same time as a wrong password.

``user_directory(services)`` gives the directory of the running API (created on first use).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable
from uuid import UUID, uuid5

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import RecordConflictError

from api.sign_in_failures import PgFailures, SqliteFailures
from engine.aggregates import find_aggregate
from engine.definition_models import NAME_PATTERN
from journeys.events import iso_from_epoch

__all__ = ["FAILURE_LIMIT", "FAILURE_WINDOW", "MIN_PASSWORD", "USER_ROLES", "TooManyAttempts", "User",
           "UserDirectory", "UserError", "check_password", "normalize_email", "user_directory"]

logger = logging.getLogger("switchback.users")

USER_ROLES = ("admin", "marketer", "analyst", "redeemer")
MIN_PASSWORD = 10
MAX_PASSWORD = 1000
MAX_EMAIL = 254
FAILURE_LIMIT = 10
FAILURE_WINDOW = 15 * 60
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Fixed forever: every stored user's aggregate id is derived from it.
NAMESPACE = UUID("3d7e4f10-6b2a-4c59-9a8e-51f0c2d7b463")
_RETRIES = 20


# -- rules (pure) ------------------------------------------------------------------------------

class UserError(Exception):
    """A refused request: ``code`` is ``invalid`` (``field`` names the input), ``exists``,
    ``not_found`` or ``busy``; ``message`` says what to do."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this email lately; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        wait = f"{retry_after} seconds" if retry_after < 120 else f"{-(-retry_after // 60)} minutes"
        super().__init__(f"too many failed sign-ins for this email; try again in {wait}")
        self.retry_after = retry_after


def normalize_email(email: Any) -> str:
    """The email as stored and compared: trimmed and lower case; ``UserError`` when it is not an address."""
    if not isinstance(email, str):
        raise UserError("invalid", "the email must be text, e.g. ann@example.com", "email")
    value = email.strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise UserError("invalid", f"{email.strip()[:100]!r} is not an email address (e.g. ann@example.com)", "email")
    return value


def check_password(password: Any, email: str | None = None) -> str:
    """The password if it follows the rules (at least ``MIN_PASSWORD`` characters, not only
    spaces, not the email address); else ``UserError`` saying which rule it breaks."""
    if not isinstance(password, str):
        raise UserError("invalid", "the password must be text", "password")
    if len(password) < MIN_PASSWORD:
        raise UserError("invalid", f"the password must be at least {MIN_PASSWORD} characters long "
                                   f"(this one has {len(password)})", "password")
    if len(password) > MAX_PASSWORD:
        raise UserError("invalid", f"the password must be at most {MAX_PASSWORD} characters long", "password")
    if not password.strip():
        raise UserError("invalid", "the password must not be only spaces", "password")
    if email is not None and password.strip().lower() == email.lower():
        raise UserError("invalid", "the password must not be the email address", "password")
    return password


def check_role(role: Any) -> str:
    if role not in USER_ROLES:
        raise UserError("invalid", f"unknown role {role!r}; a user is one of: {', '.join(USER_ROLES)}"
                                   " (API keys have the 'ingest' role)", "role")
    return role


def check_workspace(workspace: Any) -> str:
    if not isinstance(workspace, str) or not NAME_PATTERN.match(workspace):
        raise UserError("invalid", f"workspace {workspace!r} is not valid: use 1-100 letters, digits, '_' or '-'",
                        "workspace")
    return workspace


def _failure_key(email: Any) -> str:
    """What the failure ledger stores for an email (a hash: attacker-chosen text is never stored)."""
    text = email.strip().lower() if isinstance(email, str) else repr(email)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:40]


# -- aggregates ---------------------------------------------------------------------------------

class User(Aggregate):
    """One person who signs in. ``generation`` grows whenever their sessions must end."""

    @staticmethod
    def create_id(email: str) -> UUID:
        return uuid5(NAMESPACE, f"user:{email}")

    @event("Created")
    def __init__(self, email: str, password_hash: str, role: str, workspace: str, created_at: float) -> None:
        self.email = email
        self.password_hash = password_hash
        self.role = role
        self.workspace = workspace
        self.disabled = False
        self.generation = 0
        self.created_at = created_at
        self.updated_at = created_at

    @event("RoleChanged")
    def change_role(self, role: str, at: float) -> None:
        self.role, self.updated_at = role, at

    @event("PasswordChanged")
    def change_password(self, password_hash: str, at: float) -> None:
        self.password_hash, self.updated_at = password_hash, at
        self.generation += 1

    @event("PasswordRehashed")
    def rehash(self, password_hash: str) -> None:
        """The same password under today's argon2 parameters (sessions continue)."""
        self.password_hash = password_hash

    @event("Disabled")
    def disable(self, at: float) -> None:
        self.disabled, self.updated_at = True, at
        self.generation += 1

    @event("Enabled")
    def enable(self, at: float) -> None:
        self.disabled, self.updated_at = False, at

    @event("SignedOut")
    def sign_out_everywhere(self, at: float) -> None:
        self.generation += 1


class Roster(Aggregate):
    """Every user's email, in order of creation (saved in one transaction with each new user)."""

    ID = uuid5(NAMESPACE, "roster")

    @staticmethod
    def create_id() -> UUID:
        return Roster.ID

    @event("Started")
    def __init__(self) -> None:
        self.emails: list[str] = []

    @event("Added")
    def add(self, email: str) -> None:
        self.emails.append(email)


class UserDirectoryApp(Application):
    """The eventsourcing application (env keys prefixed ``USERDIRECTORY_``). No aggregate
    cache: another process (the CLI, another API) may have changed a user."""

    name = "UserDirectory"


# -- the directory ------------------------------------------------------------------------------

class UserDirectory:
    """Create, change, list and sign in users (see the module docstring).

    ``hasher`` replaces the default ``argon2.PasswordHasher()`` (tests use cheaper
    parameters); hashes made with other parameters still verify and are re-hashed with
    the current ones at the next successful sign-in.
    """

    def __init__(self, sqlite_path: str | Path | None = None, env: dict[str, str] | None = None,
                 hasher: PasswordHasher | None = None, failures: Any = None) -> None:
        config: dict[str, str] = {}
        ledger_path = ":memory:"
        if sqlite_path is not None:
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
            config = {"USERDIRECTORY_PERSISTENCE_MODULE": "eventsourcing.sqlite",
                      "USERDIRECTORY_SQLITE_DBNAME": str(sqlite_path)}
            ledger_path = str(sqlite_path)
        elif not any(k in (env or {}) for k in ("PERSISTENCE_MODULE", "USERDIRECTORY_PERSISTENCE_MODULE")):
            config = {"USERDIRECTORY_PERSISTENCE_MODULE": "eventsourcing.sqlite",
                      "USERDIRECTORY_SQLITE_DBNAME": ":memory:"}
        config.update(env or {})
        self.app = UserDirectoryApp(env=config)
        self.hasher = hasher or PasswordHasher()
        self.failures = failures if failures is not None else SqliteFailures(ledger_path)
        self._lock = threading.RLock()
        self._dummy: str | None = None

    @classmethod
    def from_postgres(cls, dsn: str, schema: str = "switchback", env: dict[str, str] | None = None,
                      hasher: PasswordHasher | None = None) -> UserDirectory:
        """The directory in PostgreSQL: ``userdirectory_events`` and ``sign_in_failures`` in ``schema``."""
        from engine.pgconfig import ddl_lock, describe, ensure_schema, postgres_env  # psycopg: distributed only

        config = postgres_env(dsn, schema, prefix=UserDirectoryApp.name)
        config.update(env or {})
        ensure_schema(dsn, schema)
        logger.info("user directory: PostgreSQL %s, schema %s", describe(dsn), schema)
        with ddl_lock(dsn, schema):  # its tables are created now; other processes may be starting too
            return cls(env=config, hasher=hasher, failures=PgFailures(dsn, schema))

    def close(self) -> None:
        self.app.close()
        self.failures.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _find(self, cls: type, aggregate_id: UUID) -> Any:
        return find_aggregate(self.app, cls, aggregate_id)

    def _user(self, email: str) -> User | None:
        return self._find(User, User.create_id(email))

    def _existing(self, email: Any, workspace: str | None) -> User:
        """The user with this email (in ``workspace``, when given), else ``UserError("not_found")``."""
        address = normalize_email(email)
        user = self._user(address)
        if user is None or (workspace is not None and user.workspace != workspace):
            raise UserError("not_found", f"no user {address!r}" + (f" in workspace '{workspace}'" if workspace else ""))
        return user

    def _change(self, email: str, workspace: str | None, apply: Callable[[User], None]) -> User:
        """Load, change and save a user, reloading when another writer saved first."""
        with self._lock:
            for _ in range(_RETRIES):
                user = self._existing(email, workspace)
                apply(user)
                try:
                    self.app.save(user)
                except RecordConflictError:
                    continue
                return user
        raise UserError("busy", "this user is being changed elsewhere at the same time; try again")

    @staticmethod
    def view(user: User) -> dict[str, Any]:
        """What admins see of a user (never the password hash)."""
        return {"email": user.email, "role": user.role, "workspace": user.workspace, "disabled": user.disabled,
                "created_at": iso_from_epoch(user.created_at), "updated_at": iso_from_epoch(user.updated_at)}

    @staticmethod
    def _session_view(user: User) -> dict[str, Any]:
        return {"id": str(user.id), "email": user.email, "role": user.role, "workspace": user.workspace,
                "generation": user.generation}

    # -- managing users ---------------------------------------------------------------------

    def create(self, email: Any, password: Any, role: Any, workspace: Any = "default",
               now: float | None = None) -> dict[str, Any]:
        """A new user; ``UserError`` ``invalid`` (with the field) or ``exists``."""
        address = normalize_email(email)
        check_role(role)
        check_workspace(workspace)
        check_password(password, address)
        at = time.time() if now is None else float(now)
        password_hash = self.hasher.hash(password)
        with self._lock:
            for _ in range(_RETRIES):
                if self._user(address) is not None:
                    raise UserError("exists", f"a user with the email {address!r} already exists", "email")
                roster = self._find(Roster, Roster.ID) or Roster()
                user = User(address, password_hash, role, workspace, at)
                roster.add(address)
                try:
                    self.app.save(user, roster)
                except RecordConflictError:
                    continue  # another user (or this one) was saved meanwhile: look again
                return self.view(user)
        raise UserError("busy", "users are being created elsewhere at the same time; try again")

    def get(self, email: Any, workspace: str | None = None) -> dict[str, Any]:
        return self.view(self._existing(email, workspace))

    def list(self, workspace: str | None = None) -> list[dict[str, Any]]:
        """Users in order of creation (of one workspace, when given)."""
        roster = self._find(Roster, Roster.ID)
        found = (self._user(email) for email in (roster.emails if roster else []))
        return [self.view(u) for u in found if u is not None and (workspace is None or u.workspace == workspace)]

    def update(self, email: Any, role: Any = None, disabled: bool | None = None, password: Any = None,
               workspace: str | None = None, now: float | None = None) -> dict[str, Any]:
        """Change the role, the disabled flag and/or the password. A new password or disabling
        ends the user's sessions. ``workspace``: refuse users of other workspaces (not found)."""
        address = normalize_email(email)
        if role is not None:
            check_role(role)
        if disabled is not None and not isinstance(disabled, bool):
            raise UserError("invalid", "disabled is true or false", "disabled")
        password_hash = self.hasher.hash(check_password(password, address)) if password is not None else None
        at = time.time() if now is None else float(now)

        def apply(user: User) -> None:
            if role is not None and role != user.role:
                user.change_role(role, at)
            if disabled is True and not user.disabled:
                user.disable(at)
            elif disabled is False and user.disabled:
                user.enable(at)
            if password_hash is not None:
                user.change_password(password_hash, at)

        return self.view(self._change(address, workspace, apply))

    # -- signing in -------------------------------------------------------------------------

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(18))
        return self._dummy

    def sign_in(self, email: Any, password: Any, now: float) -> dict[str, Any] | None:
        """The user (``id``, ``email``, ``role``, ``workspace``, ``generation``) when the
        password is right and the account enabled; None otherwise, the same for an unknown
        email, a wrong password or a disabled account. :class:`TooManyAttempts` after
        ``FAILURE_LIMIT`` failures for this email within ``FAILURE_WINDOW`` seconds."""
        key = _failure_key(email)
        count, oldest = self.failures.recent(key, now - FAILURE_WINDOW)
        if count >= FAILURE_LIMIT:
            raise TooManyAttempts(max(1, int((oldest or now) + FAILURE_WINDOW - now) + 1))
        try:
            user = self._user(normalize_email(email))
        except UserError:
            user = None
        usable = isinstance(password, str) and len(password) <= MAX_PASSWORD
        matches = self._verify(user.password_hash if user is not None else self._dummy_hash(),
                               password if usable else "")
        if user is None or user.disabled or not usable or not matches:
            self.failures.add(key, now, forget_before=now - FAILURE_WINDOW)
            return None
        self.failures.clear(key)
        if self.hasher.check_needs_rehash(user.password_hash):
            self._rehash(user, password)
        return self._session_view(user)

    def _rehash(self, user: User, password: str) -> None:
        user.rehash(self.hasher.hash(password))
        try:
            with self._lock:
                self.app.save(user)
        except RecordConflictError:
            pass  # changed meanwhile; the next sign-in re-hashes

    def session_user(self, user_id: str, generation: int) -> dict[str, Any] | None:
        """The user of a session (as ``sign_in`` returns it) while the session is still
        theirs: the user exists, is enabled and has not moved to another generation."""
        try:
            aggregate_id = UUID(user_id)
        except (ValueError, TypeError, AttributeError):
            return None
        user = self._find(User, aggregate_id)
        if user is None or user.disabled or user.generation != generation:
            return None
        return self._session_view(user)

    def sign_out_everywhere(self, email: str, now: float | None = None) -> None:
        """End every session of this user (their generation grows)."""
        at = time.time() if now is None else float(now)
        self._change(email, None, lambda user: user.sign_out_everywhere(at))


def user_directory(services: Any) -> UserDirectory:
    """The running API's ``UserDirectory`` (made by the services: ``<data_dir>/users.db``
    embedded, the PostgreSQL schema distributed; closed when they stop)."""
    return services.users
