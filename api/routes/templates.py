"""Message templates: CRUD and preview (strict: a missing merge tag is an error), also of
unsaved edits (``POST /v1/templates/preview``, for the editor's live preview)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import EDITORS, READERS, Caller, allow
from api.errors import ApiError
from api.routes.journeys import call
from engine.templates import TemplateError, render, template_context
from journeys.contact import apply_event, new_contact

router = APIRouter(tags=["templates"])


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200)
    channel: Literal["email", "sms", "whatsapp"]
    subject: str | None = Field(default=None, max_length=998)
    html: str | None = Field(default=None, max_length=512_000)
    text: str | None = Field(default=None, max_length=64_000)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str | None = None
    sample: dict[str, Any] | None = Field(default=None, description="contact attributes to preview with")
    context: dict[str, Any] = Field(default_factory=dict, description="extra merge data: trigger, event, offer")


@router.get("/v1/templates", summary="All templates")
async def list_templates(request: Request, who: Caller = Depends(allow(*READERS))):
    return {"items": await call(request.app.state.services.definitions.list_templates, who.workspace)}


@router.get("/v1/templates/{template_id}")
async def get_template(request: Request, template_id: str, who: Caller = Depends(allow(*READERS))):
    return await call(request.app.state.services.definitions.get_template, who.workspace, template_id)


@router.put("/v1/templates/{template_id}", summary="Create or replace a template")
async def save_template(request: Request, template_id: str, template: TemplateIn, who: Caller = Depends(allow(*EDITORS))):
    if template.channel == "email" and not (template.subject and (template.html or template.text)):
        raise ApiError(422, "validation_error", "an email template needs a subject and html or text",
                       [{"loc": "subject", "message": "required for email"}])
    if template.channel != "email" and not template.text:
        raise ApiError(422, "validation_error", "SMS and WhatsApp templates need text", [{"loc": "text", "message": "required"}])
    payload = {"id": template_id, **template.model_dump(exclude_none=True)}
    for field in ("subject", "html", "text"):
        if field in payload:
            try:
                render({"channel": template.channel, field: payload[field]}, {}, strict=False)
            except TemplateError as exc:
                raise ApiError(422, "template_error", str(exc), [{"loc": field, "message": str(exc)}]) from None
    return await call(request.app.state.services.definitions.save_template, who.workspace, payload)


@router.delete("/v1/templates/{template_id}", status_code=204)
async def delete_template(request: Request, template_id: str, who: Caller = Depends(allow(*EDITORS))):
    await call(request.app.state.services.definitions.delete_template, who.workspace, template_id)


class UnsavedPreviewIn(PreviewIn):
    template: TemplateIn = Field(description="the template as edited, not saved yet")


async def preview_context(services, workspace: str, body: PreviewIn) -> dict[str, Any]:
    """The merge data of a preview: a real contact's state (404 when unknown) or sample attributes."""
    if body.contact_id:
        contact = await run_in_threadpool(services.contact_state, workspace, body.contact_id)
        if contact is None:
            raise ApiError(404, "not_found", f"no contact '{body.contact_id}'")
    else:
        contact = apply_event(new_contact("preview", workspace),
                              {"type": "contact.updated", "data": body.sample or {}, "occurred_at": 0})
    extra = {"unsubscribe_url": f"{services.settings.public_url()}/u/preview", **body.context}
    return template_context(contact, extra)


async def render_strict(template: dict[str, Any], context: dict[str, Any], loc_prefix: str = "") -> dict[str, Any]:
    """Render like a send would, but strictly: a missing merge tag is a 422 naming the field."""
    try:
        return await run_in_threadpool(render, template, context, True)
    except TemplateError as exc:
        loc = f"{loc_prefix}{getattr(exc, 'field', None) or 'template'}"
        raise ApiError(422, "template_error", str(exc), [{"loc": loc, "message": str(exc)}]) from None


@router.post("/v1/templates/preview", summary="Render an unsaved template with a real contact or sample data (strict)")
async def preview_unsaved(request: Request, body: UnsavedPreviewIn, who: Caller = Depends(allow(*READERS))):
    template = body.template.model_dump(exclude_none=True)
    return await render_strict(template, await preview_context(request.app.state.services, who.workspace, body),
                               "template.")


@router.post("/v1/templates/{template_id}/preview", summary="Render with a real contact or sample data (strict)")
async def preview(request: Request, template_id: str, body: PreviewIn, who: Caller = Depends(allow(*READERS))):
    services = request.app.state.services
    template = await call(services.definitions.get_template, who.workspace, template_id)
    return await render_strict(template, await preview_context(services, who.workspace, body))
