"""Template tools for the editor: ``POST /v1/templates/{id}/test-send`` puts one test
message into the outbox (``GET /v1/outbox``), composed exactly as the sender would
(merge tags, tracked links, footer, unsubscribe headers) for a real contact.

Only the outbox is used, never a real provider, and nothing is appended to the event log:
a test send is not a message of any journey. Its id is ``test_<ulid>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

from api.auth import EDITORS, Caller, allow
from api.errors import ApiError
from api.routes.journeys import call
from api.routes.templates import render_strict
from engine.compose import NotSendable, compose
from engine.templates import template_context
from journeys.contact import address

router = APIRouter(tags=["templates"])


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str = Field(min_length=1, max_length=128, description="the contact the test is composed for")
    context: dict[str, Any] = Field(default_factory=dict, description="extra merge data: trigger, event, offer")


def test_command(workspace: str, contact_id: str, template: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A send command shaped like the engine's (engine.processing.send_command), for no journey."""
    return {"message_id": f"test_{ULID()}", "workspace": workspace, "contact_id": contact_id,
            "journey_id": None, "version": None, "node_id": None, "channel": template["channel"],
            "template": template["id"], "offer": None, "context": dict(context)}


@router.post("/v1/templates/{template_id}/test-send", status_code=201,
             summary="Compose the template for a contact and put it in the outbox (never a real provider)")
async def test_send(request: Request, template_id: str, body: TestSendIn, who: Caller = Depends(allow(*EDITORS))):
    services = request.app.state.services
    template = await call(services.definitions.get_template, who.workspace, template_id)
    contact = await run_in_threadpool(services.contact_state, who.workspace, body.contact_id)
    if contact is None:
        raise ApiError(404, "not_found", f"no contact '{body.contact_id}'")
    channel = template["channel"]
    if address(contact, channel) is None:
        wanted = "an email address" if channel == "email" else "a phone number"
        raise ApiError(422, "validation_error", f"contact '{body.contact_id}' has no address for {channel}",
                       [{"loc": "contact_id", "message": f"the contact needs {wanted} for a {channel} template"}])
    command = test_command(who.workspace, body.contact_id, template, body.context)
    # strict first, so a missing merge tag is an error naming its field rather than a blank
    extra = {**body.context, "offer": None, "unsubscribe_url": f"{services.settings.public_url()}/u/preview"}
    await render_strict(template, template_context(contact, extra))
    try:
        message = compose(command, contact, template, base_url=services.settings.public_url(),
                          tracker=getattr(services, "tracker", None), postal_address=services.settings.postal_address)
    except NotSendable as exc:
        raise ApiError(422, "template_error", str(exc), [{"loc": "template", "message": str(exc)}]) from None
    receipt = await run_in_threadpool(services.outbox.send, message)
    return {"message_id": message.message_id, "contact_id": body.contact_id, "channel": channel, "to": message.to,
            "subject": message.subject, "provider": receipt.provider, "outbox": f"/v1/outbox?contact_id={body.contact_id}"}
