"""The one error envelope: every 4xx (and the 503s) answer ``{"detail": str, "errors": [...]}``.

``detail`` says what went wrong in a sentence; ``errors`` names each offending field (422 only).
Nothing from the request is copied into the answer: FastAPI's default 422 echoed the input,
which turned a 50 MB body into a 150 MB answer, and input JSON cannot always encode (``NaN``, a
lone surrogate), which made the answer a plain-text 500. Messages come from the schema and from
us, and each one is cleaned and capped, so an answer always encodes and stays small. The one
part of a request an answer may name is an unknown field, and only when its name is short and
plain; any other key is shown as ``<unknown key>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from app.db import is_transient
from app.services.tasks import TaskNotFoundError

log = logging.getLogger(__name__)

# At most this many field errors are listed: a body with a thousand bad items needs no more.
MAX_FIELD_ERRORS = 20
MAX_MESSAGE_CHARS = 300
# A location part that is not one of our field names (an unknown key in the body) is input.
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
UNKNOWN_KEY = "<unknown key>"


class FieldError(BaseModel):
    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then names."
    )
    msg: str
    type: str = Field(description="Pydantic's error type, e.g. `missing`, `string_too_long`.")


class ErrorBody(BaseModel):
    """Every error answer has this shape."""

    detail: str
    errors: list[FieldError] = Field(default_factory=list)


def error_response(
    status_code: int,
    detail: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(detail=_clean(detail), errors=list(errors))
    return JSONResponse(body.model_dump(), status_code, headers=headers)


def field_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors without ``input`` and ``ctx``, the parts that carry the request."""
    result = []
    for error in raw[:MAX_FIELD_ERRORS]:
        message = str(error.get("msg", ""))
        if error.get("type") == "json_invalid":
            # json's own reason ("Expecting value"); the position is in ``loc``.
            message = f"invalid JSON: {(error.get('ctx') or {}).get('error', 'cannot parse')}"
        loc: list[str | int] = [
            part if isinstance(part, int) or _FIELD_NAME.match(part) else UNKNOWN_KEY
            for part in error.get("loc", ())
        ]
        result.append(FieldError(loc=loc, msg=_clean(message), type=str(error.get("type", ""))))
    return result


def allowed_methods(request: Request) -> str | None:
    """The methods the OpenAPI document lists for the request's path. Starlette's 405 names only
    those of the first route that matched, and each method of a path is a route of its own
    here (a path's GET and POST), so its ``Allow`` left some out."""
    for template, operations in request.app.openapi()["paths"].items():
        if _compiled(template).match(request.scope["path"]):
            return ", ".join(sorted(method.upper() for method in operations))
    return None


@cache
def _compiled(template: str) -> re.Pattern[str]:
    regex, _, _ = compile_path(template)
    return regex


def _clean(text: str) -> str:
    """Encodable and short, whatever it holds."""
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        shown = (
            f" (the first {MAX_FIELD_ERRORS} are listed)" if len(errors) > MAX_FIELD_ERRORS else ""
        )
        detail = f"the request is not valid: {len(errors)} error(s){shown}"
        return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, detail, field_errors(errors))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = exc.headers
        allowed = allowed_methods(request) if exc.status_code == 405 else None
        if allowed is not None:
            headers = {**(headers or {}), "Allow": allowed}
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(TaskNotFoundError)
    async def not_found(_request: Request, exc: TaskNotFoundError) -> JSONResponse:
        return error_response(status.HTTP_404_NOT_FOUND, f"task {exc} not found")

    @app.exception_handler(SQLAlchemyError)
    async def database_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if not is_transient(exc):
            raise exc
        log.warning("database unavailable: %s", exc)
        return error_response(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "database unavailable, try again shortly",
            headers={"Retry-After": "5"},
        )
