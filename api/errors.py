"""Error responses: one JSON shape everywhere, with the field path of bad input.

    {"error": {"code": "validation_error", "message": "...",
               "details": [{"loc": "batch[3].data.amount", "message": "..."}]}}
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError


class ORJSONResponse(JSONResponse):
    """JSON rendered by orjson (datetimes, non-string keys)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                 **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.extra = status, code, message, details, extra


def loc_path(loc: tuple | list, prefix: str = "") -> str:
    """``("batch", 3, "data", "amount")`` -> ``batch[3].data.amount``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# a whole-model check (e.g. the event's data contract) names its field in the message
_NAMED_FIELD = re.compile(r"^(contact_id|data\.[A-Za-z0-9_]+)\b")


def pydantic_details(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    details = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if p not in ("body",)]
        message = str(err["msg"]).removeprefix("Value error, ")
        named = _NAMED_FIELD.match(message) if err["type"] == "value_error" and not loc else None
        if named:
            loc = named.group(1).split(".")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see docs/events.md)"
        details.append({"loc": loc_path(loc, prefix) or prefix or "body", "message": message})
    return details


def body(code: str, message: str, details: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error, **extra}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return ORJSONResponse(body(exc.code, exc.message, exc.details, **exc.extra), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        details = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if p not in ("body", "query", "path")]
            message = err["msg"] if err["type"] != "extra_forbidden" else "unknown field"
            details.append({"loc": loc_path(loc) or err["loc"][0], "message": message})
        code = "malformed_json" if any(e["type"] == "json_invalid" for e in exc.errors()) else "validation_error"
        status = 400 if code == "malformed_json" else 422
        return ORJSONResponse(body(code, "the request is not valid", details), status_code=status)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return ORJSONResponse(body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
