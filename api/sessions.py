"""Browser sessions as stateless signed tokens, and their CSRF tokens (pure: no I/O).

A session token is ``<payload>.<signature>``, both base64url without padding. The payload
is JSON: ``{"v": 1, "u": user id, "g": session generation, "s": session id, "i": issued at,
"x": expires at}`` (epoch seconds); the signature is HMAC-SHA256 over the payload text
with a key derived from the deployment secret (``api/signing_key.py``), so tracking links
and session cookies can never be swapped for one another. Any API process holding the
same secret accepts the token: nothing is stored per session, which is what the
distributed deployment (several API processes) needs.

Validity is decided in two steps: ``read`` checks the signature and the fixed expiry
(12 hours after sign-in, not extended by activity); the caller then loads the user and
checks that the token's generation equals the user's (signing out, a new password or
disabling the account increments it, ending every session of that user at once).

The CSRF token of a session is ``HMAC(key, "csrf:" + session id)``: the browser app gets
it in the sign-in response (and from ``GET /v1/session``) and sends it back in the
``X-CSRF-Token`` header of every state-changing request. A cross-site page can make the
browser send the cookie but cannot read the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["CSRF_HEADER", "SAFE_METHODS", "SESSION_COOKIE", "SESSION_SECONDS", "SessionClaims", "cookie_options",
           "csrf_ok", "csrf_token", "issue", "needs_csrf", "read", "session_key"]

SESSION_COOKIE = "sb_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKEN = 2000
_VERSION = 1
_PURPOSE = b"switchback browser session v1"


@dataclass(frozen=True)
class SessionClaims:
    """What a valid token says: whose session, which generation, and its lifetime."""

    user_id: str
    generation: int
    session_id: str
    issued_at: float
    expires_at: float


def session_key(secret: bytes) -> bytes:
    """The session-signing key derived from the deployment secret (never the secret itself)."""
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def issue(key: bytes, user_id: str, generation: int, now: float, lifetime: float = SESSION_SECONDS,
          session_id: str | None = None) -> tuple[str, SessionClaims]:
    """A new token for ``user_id`` at ``generation``, valid from ``now`` for ``lifetime`` seconds."""
    claims = SessionClaims(user_id=user_id, generation=generation, session_id=session_id or secrets.token_urlsafe(16),
                           issued_at=float(now), expires_at=float(now) + lifetime)
    payload = _b64(orjson.dumps({"v": _VERSION, "u": claims.user_id, "g": claims.generation,
                                 "s": claims.session_id, "i": claims.issued_at, "x": claims.expires_at}))
    return f"{payload}.{_sign(key, payload)}", claims


def read(key: bytes, token: Any, now: float) -> SessionClaims | None:
    """The claims of a well-signed, unexpired token; None for anything else (never raises)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        return None
    payload, signature = token.split(".")
    try:
        payload.encode("ascii")
    except UnicodeEncodeError:
        return None
    if not hmac.compare_digest(_sign(key, payload), signature):
        return None
    try:
        data = orjson.loads(_unb64(payload))
        claims = SessionClaims(user_id=str(data["u"]), generation=int(data["g"]), session_id=str(data["s"]),
                               issued_at=float(data["i"]), expires_at=float(data["x"]))
        version = data["v"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if version != _VERSION or now >= claims.expires_at:
        return None
    return claims


def csrf_token(key: bytes, claims: SessionClaims) -> str:
    """The CSRF token that goes with this session (the same on every call)."""
    return _b64(hmac.new(key, b"csrf:" + claims.session_id.encode("utf-8"), hashlib.sha256).digest())


def csrf_ok(key: bytes, claims: SessionClaims, presented: str | None) -> bool:
    """Whether ``presented`` (the ``X-CSRF-Token`` header) is this session's token."""
    if not presented or len(presented) > 200:
        return False
    return hmac.compare_digest(csrf_token(key, claims).encode("ascii"), presented.strip().encode("utf-8"))


def needs_csrf(method: str) -> bool:
    """State-changing methods (POST, PUT, PATCH, DELETE, anything not read-only) need the token."""
    return method.upper() not in SAFE_METHODS


def cookie_options(public_url: str) -> dict[str, Any]:
    """``Response.set_cookie`` arguments: HttpOnly, SameSite=Strict, Path=/, and Secure
    when the deployment is served over https (``SWITCHBACK_BASE_URL``)."""
    return {"httponly": True, "samesite": "strict", "path": "/",
            "secure": public_url.strip().lower().startswith("https://")}
