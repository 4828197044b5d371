"""Tracking routes: the links inside messages (no API key; the token is the credential).

- ``GET /o/<token>``: the open pixel, a 1x1 transparent GIF; records ``message.opened``.
  A bad token still gets the GIF (a mail client shows no broken image) and records nothing.
- ``GET /c/<token>``: records ``message.clicked`` and redirects (302) to the link sealed
  in the token. A bad token is a 404 page, never a redirect: only links that were in
  the rendered message have a token, so this is not an open redirect.
- ``GET /u/<token>``: the unsubscribe and preferences page (changes nothing: link
  scanners fetch GET URLs).
- ``POST /u/<token>``: RFC 8058 one-click unsubscribe (body ``List-Unsubscribe=One-Click``,
  form-encoded or multipart), or the page's forms: ``action=unsubscribe`` (the message's
  channel) or ``action=preferences`` with one ``channel`` field per channel to keep.

Opens and clicks get a fresh event id each (they repeat; ``data.message_id`` counts unique
ones). Subscription changes get deterministic ids, ``unsub:<message_id>:<channel>:<n>``
or ``sub:...``, where ``n`` counts the contact's earlier subscription events, and
nothing is recorded when the contact is already in the asked-for state: a repeated or
double-submitted request records one change, and a later change is never mistaken for
a repeat. See docs/channels/tracking.md.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from api.signing_key import signing_key
from engine.tracking import InvalidToken, Tracker
from journeys.events import CHANNELS, iso_from_epoch, new_event_id

logger = logging.getLogger("switchback.tracking")
router = APIRouter(tags=["tracking"])

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache"}
PAGE_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}
CHANNEL_NAMES = {"email": "email", "sms": "SMS", "whatsapp": "WhatsApp"}
ONE_CLICK = ("List-Unsubscribe", "One-Click")

_PAGES = {
    "base.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f5f4;color:#1c1917;margin:0}
main{max-width:28rem;margin:3rem auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem}button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #1c1917;cursor:pointer}
button.primary{background:#1c1917;color:#fff}fieldset{border:1px solid #d6d3d1;border-radius:6px;margin:1.5rem 0 1rem}
label{display:block;margin:.4rem 0}.note{color:#78716c;font-size:.85rem}
</style></head><body><main>{% block body %}{% endblock %}</main></body></html>""",
    "preferences.html": """{% extends "base.html" %}{% block body %}
<h1>Unsubscribe from {{ channel_name }}</h1>
<form method="post"><input type="hidden" name="action" value="unsubscribe">
<p>{% if subscribed[channel] %}Stop receiving these messages by {{ channel_name }}.{% else %}You are already
unsubscribed from {{ channel_name }}.{% endif %}</p>
<button class="primary" type="submit">Unsubscribe from {{ channel_name }}</button></form>
<form method="post"><input type="hidden" name="action" value="preferences">
<fieldset><legend>Or choose how we may reach you</legend>
{% for ch in channels %}<label><input type="checkbox" name="channel" value="{{ ch }}"
{%- if subscribed[ch] %} checked{% endif %}> {{ names[ch] }}
{%- if ch in suppressed %} <span class="note">(paused: earlier messages bounced or were reported)</span>{% endif %}
</label>
{% endfor %}</fieldset>
<button type="submit">Save preferences</button></form>
{% endblock %}""",
    "done.html": """{% extends "base.html" %}{% block body %}
<h1>{{ title }}</h1>
{% if unsubscribed %}<p>You will no longer receive messages by {{ unsubscribed | join(", ") }}.</p>{% endif %}
{% if subscribed %}<p>You will keep receiving messages by {{ subscribed | join(", ") }}.</p>{% endif %}
<p class="note">Changed your mind? Use the same link again.</p>
{% endblock %}""",
    "problem.html": """{% extends "base.html" %}{% block body %}
<h1>{{ title }}</h1><p>{{ message }}</p>
{% endblock %}""",
}
_pages = Environment(loader=DictLoader(_PAGES), autoescape=select_autoescape(default=True),
                     undefined=StrictUndefined)


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(name).render(**values), status_code=status, headers=PAGE_HEADERS)


def _problem(status: int, title: str, message: str) -> HTMLResponse:
    return _page("problem.html", status, title=title, message=message)


def _not_found() -> HTMLResponse:
    return _problem(404, "Link not valid", "This link is not valid. It may be incomplete: try copying the whole "
                                           "link from the message.")


def tracker(request: Request) -> Tracker:
    """The app's tracker (same secret and base URL as the sender's), made once."""
    found = getattr(request.app.state, "tracker", None) or getattr(request.app.state.services, "tracker", None)
    if found is None:
        settings = request.app.state.services.settings
        found = request.app.state.tracker = Tracker(signing_key(settings), settings.public_url())
    return found


def _now(services) -> str:
    clock = getattr(services, "clock", None)
    return iso_from_epoch(clock.now() if clock is not None else time.time())


def _event(services, kind: str, event_id: str, payload: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """An envelope about the message in ``payload`` (a token's contents)."""
    stamp = _now(services)
    about = {"message_id": payload["message_id"], "journey_id": payload["journey_id"], "channel": payload["channel"]}
    if payload.get("broadcast_id"):
        about["broadcast_id"] = payload["broadcast_id"]
    return {"id": event_id, "type": kind, "workspace": payload["workspace"], "contact_id": payload["contact_id"],
            "occurred_at": stamp, "received_at": stamp, "source": "tracking", "data": {**about, **data}}


async def _record_engagement(services, record: dict[str, Any]) -> None:
    """Opens and clicks: a storage failure must not break the reader's mail or link."""
    try:
        await run_in_threadpool(services.append, [record])
    except Exception:  # noqa: BLE001 - logged; the response does not depend on it
        logger.exception("could not record %s for message %s", record["type"], record["data"]["message_id"])


@router.get("/o/{token}", summary="Open pixel (1x1 GIF); records message.opened", response_class=Response)
async def open_pixel(request: Request, token: str):
    try:
        payload = tracker(request).read(token, "open")
    except InvalidToken:
        payload = None
    if payload is not None:
        services = request.app.state.services
        await _record_engagement(services, _event(services, "message.opened", new_event_id(), payload, {"via": "pixel"}))
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/c/{token}", summary="Tracked link: records message.clicked, redirects to the message's link")
async def click(request: Request, token: str):
    try:
        payload = tracker(request).read(token, "click")
    except InvalidToken:
        return _not_found()
    services = request.app.state.services
    await _record_engagement(services, _event(services, "message.clicked", new_event_id(), payload,
                                              {"url": payload["url"], "via": "redirect"}))
    return RedirectResponse(payload["url"], status_code=302, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})


def _subscriptions(contact: dict[str, Any] | None) -> tuple[set[str], set[str], int]:
    """Unsubscribed channels, suppressed channels, and how many subscription events the
    contact has had (the version that makes change ids unique)."""
    if not contact:
        return set(), set(), 0
    totals = contact.get("totals") or {}
    version = int(totals.get("contact.subscribed", 0)) + int(totals.get("contact.unsubscribed", 0))
    return set(contact.get("unsubscribed") or ()), set(contact.get("suppressed") or ()), version


@router.get("/u/{token}", summary="Unsubscribe and preferences page", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: str):
    try:
        payload = tracker(request).read(token, "unsubscribe")
    except InvalidToken:
        return _not_found()
    services = request.app.state.services
    contact = await run_in_threadpool(services.contact_state, payload["workspace"], payload["contact_id"])
    unsubscribed, suppressed, _ = _subscriptions(contact)
    channel = payload["channel"]
    return _page("preferences.html", title="Your subscription", channel=channel,
                 channel_name=CHANNEL_NAMES.get(channel, channel), channels=CHANNELS, names=CHANNEL_NAMES,
                 subscribed={ch: ch not in unsubscribed for ch in (*CHANNELS, channel)}, suppressed=suppressed)


async def _wanted(request: Request, channel: str) -> tuple[dict[str, bool] | None, str, str | None]:
    """What the POST asks for: ``({channel: keep?}, via, problem)``."""
    try:
        form = await request.form(max_files=0, max_fields=20, max_part_size=4096)
    except Exception:  # noqa: BLE001 - malformed multipart, too many fields, ...
        return None, "", "The form could not be read."
    fields = list(form.multi_items())
    if not fields or form.get(ONE_CLICK[0]) == ONE_CLICK[1]:
        return {channel: False}, "one-click", None  # RFC 8058 (an empty body too: some clients send none)
    action = form.get("action")
    if action == "unsubscribe":
        return {channel: False}, "page", None
    if action == "preferences":
        keep = [value for key, value in fields if key == "channel"]
        unknown = [str(v)[:40] for v in keep if v not in CHANNELS]
        if unknown:
            return None, "", f"Unknown channel '{unknown[0]}': choose from {', '.join(CHANNELS)}."
        return {ch: ch in keep for ch in CHANNELS}, "preferences", None
    return None, "", ("Nothing to do: send List-Unsubscribe=One-Click, action=unsubscribe, "
                      "or action=preferences with the channels to keep.")


@router.post("/u/{token}", summary="One-click unsubscribe (RFC 8058) and the preferences form",
             response_class=HTMLResponse)
async def unsubscribe(request: Request, token: str):
    try:
        payload = tracker(request).read(token, "unsubscribe")
    except InvalidToken:
        return _not_found()
    channel = payload["channel"]
    wanted, via, problem = await _wanted(request, channel)
    if wanted is None:
        return _problem(422, "Nothing changed", problem or "The request could not be understood.")
    services = request.app.state.services
    contact = await run_in_threadpool(services.contact_state, payload["workspace"], payload["contact_id"])
    unsubscribed, _, version = _subscriptions(contact)
    records = []
    for ch, keep in wanted.items():
        if keep == (ch not in unsubscribed):
            continue  # already so: a repeat records nothing
        kind = "contact.subscribed" if keep else "contact.unsubscribed"
        event_id = f"{'sub' if keep else 'unsub'}:{payload['message_id']}:{ch}:{version}"
        records.append(_event(services, kind, event_id, payload, {"channel": ch, "via": via}))  # ch, not the message's
    if records:
        try:
            await run_in_threadpool(services.append, records)
        except Exception:  # noqa: BLE001 - the reader must not be told it worked
            logger.exception("could not record the subscription change for message %s", payload["message_id"])
            return _problem(503, "Please try again", "Your choice could not be saved just now. Please try again "
                                                     "in a few minutes.")
    names = [CHANNEL_NAMES[ch] for ch in CHANNELS if ch in wanted]
    gone = [CHANNEL_NAMES[ch] for ch in CHANNELS if wanted.get(ch) is False]
    kept = [name for name in names if name not in gone]
    title = "You are unsubscribed" if via != "preferences" else "Your preferences are saved"
    return _page("done.html", title=title, unsubscribed=gone, subscribed=kept)
