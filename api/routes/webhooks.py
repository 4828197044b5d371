"""Provider webhooks: ``POST /webhooks/ses`` (Amazon SES events through an SNS HTTPS
subscription) and ``POST /webhooks/twilio/status`` / ``POST /webhooks/twilio/inbound``.

No API key: SNS cannot send one and Twilio does not. The signature is the
authentication: SNS signs each message (checked by :class:`api.webhooks.SnsVerifier`),
Twilio signs each request with the account's auth token (``X-Twilio-Signature`` over the
public URL and the form fields). Reports about messages we do not know are acknowledged
and recorded nowhere (logged at info), so providers do not retry them forever.

For tests and special networks, ``app.state.webhook_http`` (an ``httpx.Client``) is the
client that fetches SNS certificates and visits SubscribeURLs (the host checks apply to
whatever it reaches), and ``app.state.sns_verifier`` replaces the verifier. See
docs/channels/webhooks.md.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm

from api.errors import ApiError, ORJSONResponse
from api.webhooks import ses_events, twilio_events
from api.webhooks.lookup import find_contacts_by_phone, find_message
from api.webhooks.sns import SnsError, SnsVerifier, confirm_subscription
from journeys.events import Event

router = APIRouter(tags=["webhooks"])
logger = logging.getLogger("switchback.webhooks")

SES_PATH = "/webhooks/ses"
TWILIO_STATUS_PATH = "/webhooks/twilio/status"
TWILIO_INBOUND_PATH = "/webhooks/twilio/inbound"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
HTTP_TIMEOUT = 10.0


# -- shared -----------------------------------------------------------------------------
async def _body(request: Request) -> bytes:
    limit = request.app.state.services.settings.max_body_bytes
    raw = await request.body()
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"the body is {len(raw)} bytes; the limit is {limit}")
    return raw


def _http(app: FastAPI) -> httpx.Client:
    client = getattr(app.state, "webhook_http", None)
    if client is None:
        client = app.state.webhook_http = httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
    return client


def _verifier(app: FastAPI) -> SnsVerifier:
    verifier = getattr(app.state, "sns_verifier", None)
    if verifier is None:
        settings = app.state.services.settings
        verifier = app.state.sns_verifier = SnsVerifier(cert_dir=settings.sns_cert_dir,
                                                        topic_arns=settings.sns_topic_arns, http=_http(app))
    return verifier


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _append(services: Any, envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """Validate and append; the ids recorded and the ids the log already had (a retry)."""
    received = datetime.now(UTC)
    records = []
    for envelope in envelopes:
        try:
            records.append(Event.model_validate(envelope).to_record(received_at=received))
        except ValidationError as exc:  # a provider value we cannot store; the rest still counts
            logger.warning("webhook event %s dropped: %s", envelope.get("id"),
                           "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    positions = services.append(records) if records else []
    return {"recorded": [r["id"] for r, p in zip(records, positions) if p is not None],
            "duplicates": [r["id"] for r, p in zip(records, positions) if p is None]}


def _nothing(reason: str) -> dict[str, Any]:
    return {"recorded": [], "duplicates": [], "ignored": reason}


# -- SES through SNS ----------------------------------------------------------------------
@router.post(SES_PATH, summary="Amazon SES events through an SNS HTTPS subscription (authenticated by "
             "the SNS signature)")
async def ses_webhook(request: Request):
    raw = await _body(request)
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    return ORJSONResponse(await run_in_threadpool(_ses, request.app, envelope))


def _ses(app: FastAPI, envelope: Any) -> dict[str, Any]:
    services = app.state.services
    try:
        message = _verifier(app).verify(envelope)
        if message["Type"] == "SubscriptionConfirmation":
            confirm_subscription(message, _http(app), HTTP_TIMEOUT)
            logger.info("confirmed the SNS subscription to %s", message["TopicArn"])
            if not services.settings.sns_topic_arns:
                logger.warning("SNS messages of any topic are accepted: set SWITCHBACK_SNS_TOPIC_ARNS to %s",
                               message["TopicArn"])
            return {"confirmed": True, "topic": message["TopicArn"]}
    except SnsError as exc:
        raise ApiError(exc.status, exc.code, exc.message, [{"loc": exc.loc, "message": exc.message}]) from None
    if message["Type"] == "UnsubscribeConfirmation":
        logger.info("SNS ended the subscription to %s", message["TopicArn"])
        return {"unsubscribed": True, "topic": message["TopicArn"]}
    body = ses_events.parse_notification(message["Message"])
    if body is None:
        logger.info("SNS message %s on %s is not an SES event: nothing recorded", message["MessageId"],
                    message["TopicArn"])
        return _nothing("not an SES event or notification")
    keys = ses_events.message_keys(body)
    with services.read_db() as conn:  # sqlite3: a no-op transaction; the PostgreSQL adapter: closed after
        found = find_message(conn, message_id=keys.message_id, workspace=keys.workspace,
                             provider_message_id=keys.provider_message_id,
                             default_workspace=services.settings.workspace)
    kind = ses_events.kind_of(body)
    if found is None:
        logger.info("SES %s about an unknown message (tag %s, SES id %s): nothing recorded", kind,
                    keys.message_id, keys.provider_message_id)
        return _nothing("unknown message")
    events = ses_events.to_events(body, found, message["MessageId"], message["Timestamp"])
    if not events:
        return _nothing(f"SES {kind} gives no event")
    return _append(services, events)


# -- Twilio ------------------------------------------------------------------------------
async def _twilio_form(request: Request, path: str) -> ImmutableMultiDict:
    """The form fields of a request Twilio signed for ``<public url><path>?<query>``."""
    settings = request.app.state.services.settings
    token = settings.twilio_auth_token
    if not token:
        raise ApiError(503, "not_configured", "Twilio webhooks are off: set SWITCHBACK_TWILIO_AUTH_TOKEN "
                       "to the account's auth token")
    raw = await _body(request)
    try:
        form = ImmutableMultiDict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_form", "the body is not UTF-8 form data") from None
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise ApiError(403, "missing_signature", "the request has no X-Twilio-Signature header",
                       [{"loc": "headers.X-Twilio-Signature", "message": "required"}])
    query = request.url.query
    url = settings.public_url() + path + (f"?{query}" if query else "")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(token).validate(url, form, signature, algorithm):
        raise ApiError(403, "bad_signature", f"X-Twilio-Signature does not match a request to {url}; behind a "
                       "proxy, set SWITCHBACK_BASE_URL to the public URL Twilio calls",
                       [{"loc": "headers.X-Twilio-Signature", "message": "does not match"}])
    return form


@router.post(TWILIO_STATUS_PATH, summary="Twilio status callbacks (?m=<message_id>; authenticated by "
             "X-Twilio-Signature)")
async def twilio_status(request: Request):
    form = await _twilio_form(request, TWILIO_STATUS_PATH)
    params = request.query_params
    return ORJSONResponse(await run_in_threadpool(_status, request.app.state.services, form, params.get("m"),
                                                  params.get("w")))


def _status(services: Any, form: ImmutableMultiDict, message_id: str | None, workspace: str | None) -> dict[str, Any]:
    if twilio_events.classify_status(form) is None:
        return _nothing(f"status {form.get('MessageStatus')!r} gives no event")
    sid = form.get("MessageSid") or form.get("SmsSid")
    with services.read_db() as conn:
        found = find_message(conn, message_id=message_id or None, workspace=workspace or None,
                             provider_message_id=sid or None, default_workspace=services.settings.workspace)
    if found is None:
        logger.info("Twilio status %s about an unknown message (m=%s, sid %s): nothing recorded",
                    form.get("MessageStatus"), message_id, sid)
        return _nothing("unknown message")
    return _append(services, twilio_events.status_events(form, found, _now()))


@router.post(TWILIO_INBOUND_PATH, summary="Twilio inbound messages: STOP / START keywords (authenticated "
             "by X-Twilio-Signature); answers empty TwiML")
async def twilio_inbound(request: Request):
    form = await _twilio_form(request, TWILIO_INBOUND_PATH)
    await run_in_threadpool(_inbound, request.app.state.services, form, request.query_params.get("w"))
    return Response(EMPTY_TWIML, media_type="text/xml")


def _inbound(services: Any, form: ImmutableMultiDict, workspace: str | None) -> None:
    kind = twilio_events.keyword(form.get("Body"))
    if kind is None:
        return
    workspace = workspace or services.settings.workspace
    phone = twilio_events.phone_of(form.get("From") or "")
    contacts: list[str] = []
    if phone:
        with services.read_db() as conn:
            contacts = find_contacts_by_phone(conn, workspace, phone)
    if not contacts:
        logger.info("Twilio %s from a number no contact of workspace %s has: nothing recorded", kind, workspace)
        return
    _append(services, twilio_events.inbound_events(form, workspace, contacts, _now()))
