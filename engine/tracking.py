"""Tracking links: the open pixel, click redirects and the unsubscribe link of one
message, and the email decoration that puts them in (pure apart from the crypto; no I/O).

Tokens. Every tracking URL ends in a token that names the message it belongs to:
workspace, contact id, message id, channel, journey or broadcast id and, for a click,
the target URL. The token is that payload encrypted and authenticated with AES-SIV
(RFC 5297, ``cryptography``'s ``AESSIV``) under a 512-bit key derived with HKDF-SHA256
from the deployment secret, so:

- it reveals nothing: no contact id, address or message id can be read from it;
- it cannot be guessed, forged or altered: without the secret no token verifies, and
  changing one character fails authentication;
- it is bound to its kind: the kind (open, click, unsubscribe) is authenticated data, so
  an open token cannot be replayed as a click or an unsubscribe;
- it is deterministic: the same message and link always give the same token, so the
  sender can put ``unsubscribe_url`` into the template context before rendering and
  ``decorate_email`` recognizes it afterwards (SIV needs no nonce, so there is no nonce
  to reuse either).

Text form: base64url without padding of ``version byte | SIV (16 bytes) | ciphertext``;
the plaintext is a compact orjson list, deflated when that is shorter (long URLs with
tracking parameters). A typical open token is about 100 characters.

Because the click target travels inside the authenticated token and only links found in
the rendered message get a token, ``/c/<token>`` redirects only to links of that
message: it is never an open redirect.
"""

from __future__ import annotations

import base64
import binascii
import html as htmllib
import zlib
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KINDS", "InvalidToken", "Tracker", "decorate_email", "rewrite_links"]

KINDS = {"open": "o", "click": "c", "unsubscribe": "u"}  # kind -> URL path segment
MESSAGE_FIELDS = ("workspace", "contact_id", "message_id", "channel", "journey_id", "broadcast_id")
_VERSION = 1
_RAW, _DEFLATED = b"j", b"z"
_MAX_TOKEN = 4096  # characters; a URL longer than a few KB is not ours
_MAX_PLAIN = 16384  # bytes after inflating (only authenticated tokens are inflated)
_MAX_URL = 2000  # longer links are left untracked (a token must stay under _MAX_TOKEN)
_MIN_SECRET = 16


class InvalidToken(ValueError):
    """A token that is malformed, forged, altered, or of another kind."""


def _field(msg: Any, name: str) -> Any:
    """``msg`` may be a send command (dict) or an ``OutgoingMessage``."""
    if isinstance(msg, Mapping):
        return msg.get(name)
    return getattr(msg, name, None)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or len(text) > _MAX_TOKEN or not text.isascii():
        raise InvalidToken("not a tracking token")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not a tracking token") from None
    if _b64encode(raw) != text:  # one spelling per token: no padding, no stray bits or characters
        raise InvalidToken("not a tracking token")
    return raw


def is_web_url(url: Any) -> bool:
    """An absolute http(s) URL with a host (what a click may redirect to)."""
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        return False
    if any(ch in url for ch in "\r\n\t\x00") or url != url.strip():
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


class Tracker:
    """Makes and reads the tracking URLs of messages.

    ``secret``: the deployment secret (``api.signing_key.signing_key(settings)``);
    ``base_url``: the public URL the links point at (``settings.public_url()``).
    """

    def __init__(self, secret: bytes, base_url: str):
        if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET:
            raise ValueError(f"the tracking secret must be at least {_MIN_SECRET} bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=64, salt=b"switchback", info=b"tracking tokens v1").derive(secret)
        self._aead = AESSIV(key)
        self.base_url = base_url.rstrip("/")

    # -- URLs ---------------------------------------------------------------------
    def open_url(self, msg: Any) -> str:
        return f"{self.base_url}/o/{self.token('open', msg)}"

    def click_url(self, msg: Any, url: str) -> str:
        return f"{self.base_url}/c/{self.token('click', msg, url)}"

    def unsubscribe_url(self, msg: Any) -> str:
        return f"{self.base_url}/u/{self.token('unsubscribe', msg)}"

    def is_tracking_url(self, url: str) -> bool:
        """A URL this tracker made (any kind): never wrapped again."""
        return any(url.startswith(f"{self.base_url}/{path}/") for path in KINDS.values())

    # -- tokens -------------------------------------------------------------------
    def token(self, kind: str, msg: Any, url: str | None = None) -> str:
        """The token of ``kind`` for message ``msg`` (and target ``url`` for a click)."""
        if kind not in KINDS:
            raise ValueError(f"unknown token kind '{kind}'")
        values = [_field(msg, name) for name in MESSAGE_FIELDS]
        for name, value in zip(MESSAGE_FIELDS[:4], values[:4]):
            if not isinstance(value, str) or not value:
                raise ValueError(f"a tracked message needs {name}")
        if kind == "click":
            if not is_web_url(url):
                raise ValueError("only absolute http(s) URLs can be tracked")
            values.insert(0, url)
        while values and values[-1] is None:
            values.pop()
        plain = orjson.dumps(values)
        if len(plain) > 96:
            squeezed = zlib.compress(plain, 9, wbits=-15)
            if len(squeezed) < len(plain):
                plain = _DEFLATED + squeezed
            else:
                plain = _RAW + plain
        else:
            plain = _RAW + plain
        sealed = self._aead.encrypt(plain, [self._associated(kind)])
        return _b64encode(bytes([_VERSION]) + sealed)

    def read(self, token: str, kind: str) -> dict[str, Any]:
        """The payload of a token of ``kind``: ``workspace``, ``contact_id``,
        ``message_id``, ``channel``, ``journey_id``, ``broadcast_id`` (None when absent)
        and, for a click, ``url``. Raises :class:`InvalidToken` for anything else."""
        if kind not in KINDS:
            raise ValueError(f"unknown token kind '{kind}'")
        raw = _b64decode(token)
        if len(raw) < 18 or raw[0] != _VERSION:
            raise InvalidToken("not a tracking token")
        try:
            plain = self._aead.decrypt(raw[1:], [self._associated(kind)])
        except InvalidTag:
            raise InvalidToken("the token does not verify (forged, altered or of another kind)") from None
        try:
            if plain[:1] == _DEFLATED:
                inflater = zlib.decompressobj(wbits=-15)
                body = inflater.decompress(plain[1:], _MAX_PLAIN)
                if inflater.unconsumed_tail:
                    raise InvalidToken("token payload too large")
            elif plain[:1] == _RAW:
                body = plain[1:]
            else:
                raise InvalidToken("unknown token payload")
            values = orjson.loads(body)
        except (zlib.error, orjson.JSONDecodeError):
            raise InvalidToken("unreadable token payload") from None
        if not isinstance(values, list):
            raise InvalidToken("unreadable token payload")
        url = values.pop(0) if kind == "click" and values else None
        values += [None] * (len(MESSAGE_FIELDS) - len(values))
        payload = dict(zip(MESSAGE_FIELDS, values[: len(MESSAGE_FIELDS)]))
        if not all(isinstance(payload[name], str) and payload[name] for name in MESSAGE_FIELDS[:4]):
            raise InvalidToken("incomplete token payload")
        if kind == "click":
            if not is_web_url(url):
                raise InvalidToken("the token's link is not an http(s) URL")
            payload["url"] = url
        return payload

    @staticmethod
    def _associated(kind: str) -> bytes:
        return f"switchback/{_VERSION}/{kind}".encode()


# -- email decoration ---------------------------------------------------------------
class _LinkFinder(HTMLParser):
    """Collects every ``<a>``/``<area>`` start tag: where it is, its raw text, its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[tuple[int, int], str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            self.tags.append((self.getpos(), self.get_starttag_text() or "", attrs))

    handle_startendtag = handle_starttag


def _start_tag(raw: str, attrs: list[tuple[str, str | None]]) -> str:
    name = raw[1:].split(None, 1)[0].rstrip("/>") if raw.startswith("<") else "a"
    parts = [f"<{name}"]
    for key, value in attrs:
        parts.append(f" {key}" if value is None else f' {key}="{htmllib.escape(value, quote=True)}"')
    # <a> is never self-closing in HTML (a trailing "/" may belong to an unquoted URL)
    parts.append(" />" if name.lower() == "area" and raw.rstrip().endswith("/>") else ">")
    return "".join(parts)


def rewrite_links(html: str, rewrite) -> str:
    """``html`` with the ``href`` of every ``<a>``/``<area>`` replaced by
    ``rewrite(href)`` (which returns None to leave a link alone). Tags whose link
    changes are rebuilt from their parsed attributes (order and values kept, quoting
    normalized); everything else stays byte for byte."""
    finder = _LinkFinder()
    finder.feed(html)
    finder.close()
    line_starts = [0]
    for index, char in enumerate(html):
        if char == "\n":
            line_starts.append(index + 1)
    out, done = [], 0
    for (line, column), raw, attrs in finder.tags:
        start = line_starts[line - 1] + column
        if html[start:start + len(raw)] != raw or start < done:
            continue  # not where the parser says (should not happen): leave it
        changed = False
        new_attrs = []
        for key, value in attrs:
            if key == "href" and value is not None:
                replacement = rewrite(value.strip())
                if replacement is not None:
                    value, changed = replacement, True
            new_attrs.append((key, value))
        if changed:
            out.append(html[done:start])
            out.append(_start_tag(raw, new_attrs))
            done = start + len(raw)
    out.append(html[done:])
    return "".join(out)


def _insert_before_body_end(html: str, addition: str) -> str:
    at = html.lower().rfind("</body>")
    return html + addition if at < 0 else html[:at] + addition + html[at:]


def _contains(part: str, url: str) -> bool:
    return url in part or htmllib.escape(url, quote=True) in part


def _html_footer(unsubscribe: str, postal_address: str | None) -> str:
    link = htmllib.escape(unsubscribe, quote=True)
    lines = [f'<p style="margin:0 0 4px 0"><a href="{link}" style="color:#6b6b6b">Unsubscribe</a></p>']
    if postal_address and postal_address.strip():
        address = "<br>".join(htmllib.escape(line.strip()) for line in postal_address.strip().splitlines())
        lines.append(f'<p style="margin:0">{address}</p>')
    return ('\n<div data-switchback="footer" style="margin-top:24px;font-size:12px;line-height:16px;'
            'color:#6b6b6b;text-align:center">' + "".join(lines) + "</div>\n")


def _text_footer(unsubscribe: str, postal_address: str | None) -> str:
    lines = ["--", f"Unsubscribe: {unsubscribe}"]
    if postal_address and postal_address.strip():
        lines += [line.strip() for line in postal_address.strip().splitlines()]
    return "\n".join(lines) + "\n"


def decorate_email(html: str | None, text: str | None, msg: Any, *, postal_address: str | None,
                   tracker: Tracker) -> tuple[str | None, str | None]:
    """The rendered parts of an email with tracking and the default footer.

    HTML part: every absolute http(s) link becomes a click URL (``mailto:``, ``tel:``,
    ``#anchors``, relative links, the unsubscribe link and links that are already
    tracking URLs are left alone); the default footer (unsubscribe link + postal
    address) is added unless the part already contains this message's unsubscribe
    URL (the template used ``{{ unsubscribe_url }}``); the open pixel goes before
    ``</body>`` (or at the end).
    Text part: links are not rewritten (a reader of plain text sees where a link goes,
    and a long redirect URL looks like phishing); the footer is added on the same rule.
    Other channels (SMS, WhatsApp) are returned unchanged. Applying it twice changes
    nothing the second time. A part that is None stays None.
    """
    if _field(msg, "channel") != "email":
        return html, text
    unsubscribe = tracker.unsubscribe_url(msg)
    if html is not None:
        def track(href: str) -> str | None:
            if href == unsubscribe or tracker.is_tracking_url(href) or not is_web_url(href):
                return None
            return tracker.click_url(msg, href)

        html = rewrite_links(html, track)
        addition = "" if _contains(html, unsubscribe) else _html_footer(unsubscribe, postal_address)
        pixel = tracker.open_url(msg)
        if not _contains(html, pixel):
            addition += (f'<img src="{htmllib.escape(pixel, quote=True)}" width="1" height="1" alt="" '
                         'style="display:block;border:0;width:1px;height:1px">')
        if addition:
            html = _insert_before_body_end(html, addition)
    if text is not None and unsubscribe not in text:
        text = f"{text.rstrip()}\n\n{_text_footer(unsubscribe, postal_address)}" if text.strip() else \
            _text_footer(unsubscribe, postal_address)
    return html, text
