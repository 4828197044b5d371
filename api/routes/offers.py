"""QR offers: redemption at the till, the staff view, statistics, and the public short page.

- ``POST /v1/offers/redeem`` (role ``redeemer``): one use of an offer, atomically; a refusal
  says why (404 ``unknown``, 409 ``used_up``, 410 ``expired``); a success appends
  ``offer.redeemed`` to the event log.
- ``GET /v1/offers/stats`` and ``GET /v1/offers/{token}``: figures and one offer's state.
- ``GET /q/{token}`` (no key): the page behind the short URL in SMS, with the QR code;
  ``GET /q/{token}/qr.png``: the QR code alone (for email clients that block ``data:`` images).

The ``OfferBook`` (``engine.offers``) comes from ``offer_book(services)``. See docs/channels/offers.md.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Caller, allow
from api.errors import ApiError
from engine.offers import OfferBook, OfferBusy, redeemed_event
from engine.qr import qr_data_uri, qr_png
from journeys.offers import parse_token, reason_message, token_from_scan

router = APIRouter(tags=["offers"])

STAFF = ("admin", "marketer", "redeemer")
VIEWERS = ("admin", "marketer", "analyst")
_STATUS = {"unknown": 404, "used_up": 409, "expired": 410}
_PUBLIC_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def offer_book(services: Any) -> OfferBook:
    """The running API's ``OfferBook`` (made by the services: ``<data_dir>/offers.db``
    embedded, the PostgreSQL schema distributed)."""
    return services.offers


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=1000,
                       description="the offer token, or what the scanner read from the QR code (its /q/<token> URL)")
    request_id: str | None = Field(default=None, min_length=1, max_length=100,
                                   description="the till's idempotency key: retrying with it returns the first success")
    by: str | None = Field(default=None, min_length=1, max_length=100,
                           description="till or store, recorded with the redemption (default: the API key's id)")


def _unknown() -> ApiError:
    return ApiError(404, "unknown", reason_message("unknown"))


@router.post("/v1/offers/redeem", summary="Redeem an offer once (at the till); refusals say why")
def redeem(request: Request, body: RedeemIn, who: Caller = Depends(allow("redeemer"))):
    services = request.app.state.services
    token = token_from_scan(body.token)
    if parse_token(token) is None:
        raise _unknown()
    book = offer_book(services)
    by = body.by or (f"user:{who.user}" if who.user else f"key:{who.key_id}")  # a signed-in person or a till's key
    try:
        result = book.redeem(who.workspace, token, services.clock.now(), by=by, request_id=body.request_id)
    except OfferBusy as exc:
        raise ApiError(503, "busy", str(exc)) from None
    if not result["ok"]:
        reason = result["reason"]
        extra = {"offer": result["offer"]} if result["offer"] is not None else {}
        raise ApiError(_STATUS[reason], reason, result["message"], **extra)
    # the offer book is the record; a failed append is repaired by retrying with the same request_id
    services.append([redeemed_event(who.workspace, result)])
    return {"redeemed": True, "use": result["use"], "redeemed_at": result["redeemed_at"],
            "replayed": result["replayed"], "offer": result["offer"]}


@router.get("/v1/offers/stats", summary="Issued, redeemed, redemption rate, median time to redeem")
def stats(request: Request, campaign: str | None = Query(default=None, min_length=1, max_length=200,
                                                           description="a journey or broadcast id; all when absent"),
          who: Caller = Depends(allow(*VIEWERS))):
    return offer_book(request.app.state.services).stats(who.workspace, campaign)


@router.get("/v1/offers/{token}", summary="One offer: status, uses, expiry, redemptions")
def get_offer(request: Request, token: str, who: Caller = Depends(allow(*STAFF))):
    services = request.app.state.services
    offer = offer_book(services).get(who.workspace, token, services.clock.now()) if parse_token(token) else None
    if offer is None:
        raise _unknown()
    return offer


# -- the public short page --------------------------------------------------------------------

_STATE_TEXT = {
    "active": "Show this code at the till.",
    "used_up": "This offer has been used.",
    "expired": "This offer has expired.",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem;"
        "text-align:center;color:#222}"
        "img{width:16rem;height:16rem;image-rendering:pixelated}.value{font-size:2rem;font-weight:700;margin:.5rem 0}"
        ".code{font-family:monospace;font-size:.8rem;word-break:break-all;color:#555}.state{font-weight:600}"
        ".muted{opacity:.35}</style></head><body>" + body + "</body></html>"
    )
    headers = {**_PUBLIC_HEADERS,
               "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'"}
    return HTMLResponse(document, status_code=status, headers=headers)


def _public(request: Request, token: str) -> dict[str, Any] | None:
    services = request.app.state.services
    if parse_token(token) is None:
        return None
    return offer_book(services).public(token, services.clock.now())


@router.get("/q/{token}", response_class=HTMLResponse, summary="Public offer page with its QR code (no key)")
def public_page(request: Request, token: str):
    offer = _public(request, token)
    if offer is None:
        return _page("Offer not found",
                     "<h1>Offer not found</h1><p>Check the link: this offer does not exist.</p>", 404)
    status = offer["status"]
    parts = [f"<h1>{html.escape(offer['description'] or 'Your offer')}</h1>"]
    if offer["value"]:
        parts.append(f"<p class=\"value\">{html.escape(offer['value'])}</p>")
    image_class = "" if status == "active" else " class=\"muted\""
    parts.append(f"<p><img{image_class} src=\"{qr_data_uri(offer['url'])}\" alt=\"QR code of your offer\"></p>")
    parts.append(f"<p class=\"state\">{_STATE_TEXT[status]}</p>")
    if offer["expires_at"] and status == "active":
        parts.append(f"<p>Valid until {html.escape(offer['expires_at'][:16].replace('T', ' '))} UTC.</p>")
    parts.append(f"<p class=\"code\">{html.escape(offer['token'])}</p>")
    return _page(offer["description"] or "Your offer", "".join(parts))


@router.get("/q/{token}/qr.png", summary="The offer's QR code as a PNG (no key)",
            responses={200: {"content": {"image/png": {}}}})
def public_qr(request: Request, token: str):
    offer = _public(request, token)
    if offer is None:
        raise _unknown()
    return Response(qr_png(offer["url"]), media_type="image/png", headers=_PUBLIC_HEADERS)
