"""The deployment secret that seals tracking and unsubscribe tokens (engine/tracking.py).

``SWITCHBACK_SECRET_KEY`` when set (at least 32 characters). Otherwise, in embedded
mode, a random secret is generated on first use into ``<data-dir>/secret-key`` (mode
0600, like ``admin-key``) and reused on every later start, so links in mail already
sent keep working. Distributed mode has several processes (API, workers) that must
share the secret, so there it must be set, and a missing one is a configuration error.

Changing the secret invalidates every link in mail already sent (opens and clicks are no
longer recorded, unsubscribe links show "link not valid"), so keep it stable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from api.settings import ConfigError, Settings

MIN_LENGTH = 32
FILE_NAME = "secret-key"


def signing_key(settings: Settings) -> bytes:
    """The secret for :class:`engine.tracking.Tracker` (never logged)."""
    if settings.secret_key is not None:
        secret = settings.secret_key.strip()
        if len(secret) < MIN_LENGTH:
            raise ConfigError(f"SWITCHBACK_SECRET_KEY is too short: use at least {MIN_LENGTH} random characters "
                              "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return secret.encode("utf-8")
    if settings.mode == "distributed":
        raise ConfigError("SWITCHBACK_SECRET_KEY is not set: distributed mode needs one secret shared by the API and "
                          "the workers to sign tracking and unsubscribe links (at least "
                          f"{MIN_LENGTH} random characters, e.g. python -c 'import secrets; "
                          "print(secrets.token_urlsafe(32))')")
    return _stored_secret(Path(settings.data_dir) / FILE_NAME).encode("utf-8")


def _stored_secret(path: Path) -> str:
    """Read ``path``, creating it (0600) with a fresh secret the first time. Two processes
    starting together agree: the file appears complete or not at all (written aside,
    then linked into place, which fails if the other one was first)."""
    existing = _read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)
    stored = _read(path)
    if not stored:
        raise ConfigError(f"{path} is empty or unreadable: delete it (links in mail already sent stop working) "
                          "or set SWITCHBACK_SECRET_KEY")
    return stored


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if text and len(text) < MIN_LENGTH:
        raise ConfigError(f"{path} holds a secret shorter than {MIN_LENGTH} characters; replace it or set "
                          "SWITCHBACK_SECRET_KEY")
    return text or None
