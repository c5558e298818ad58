"""What the OpenAPI document says beyond what FastAPI derives from the routes.

The error answers, defined once and named for when they happen: each route lists the ones it
can give, all in the one envelope (:class:`ErrorBody`). Listing ``INVALID`` also keeps FastAPI
from adding its own 422 (``HTTPValidationError``), a shape this service never answers with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import status
from fastapi.routing import APIRoute

from app.api.errors import ErrorBody

Responses = dict[int | str, dict[str, Any]]

# The statuses that tell the client to wait, and the header that says how long.
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_WAIT = {status.HTTP_429_TOO_MANY_REQUESTS, status.HTTP_503_SERVICE_UNAVAILABLE}


def operation_id(route: APIRoute) -> str:
    """The route function's name (``create_task``): stable, and what links refer to."""
    return route.name


def error_docs(statuses: Mapping[int, str]) -> Responses:
    """OpenAPI ``responses=`` for error statuses, each answering :class:`ErrorBody`."""
    return {
        code: {
            "model": ErrorBody,
            "description": text,
            **({"headers": _RETRY_AFTER} if code in _WAIT else {}),
        }
        for code, text in statuses.items()
    }


def bodiless(responses: Responses) -> Responses:
    """The same answers to a ``HEAD``, which carry no body (RFC 9110, 9.3.2): described, with
    no content, since the server drops the envelope a ``GET`` would get."""
    return {
        code: {"description": doc["description"], "content": None}
        for code, doc in responses.items()
    }


# Any request may carry a body, so any route may answer this (app.api.body_limit); a HEAD
# route lists it through ``bodiless``.
TOO_LARGE = error_docs(
    {
        status.HTTP_413_CONTENT_TOO_LARGE: "The request body is larger than the service's limit "
        "(`TODO_MAX_BODY_BYTES`, 1 MiB by default)."
    }
)
# Every route that reads a body: one FastAPI cannot decode (not UTF-8, a broken form).
UNREADABLE = error_docs(
    {
        status.HTTP_400_BAD_REQUEST: "The body cannot be decoded as its `Content-Type` says "
        "(not UTF-8, or a form that cannot be parsed)."
    }
)
# Every route with parameters or a body.
INVALID = error_docs(
    {
        status.HTTP_422_UNPROCESSABLE_CONTENT: "A parameter or the body is not valid; `errors` "
        "names each offending field (at most 20)."
    }
)
# Every route that needs a token: missing, malformed, expired, signed out, or its user gone.
UNAUTHORIZED = error_docs(
    {status.HTTP_401_UNAUTHORIZED: "No bearer token, or an invalid, expired or revoked one."}
)
# Every route that reads or writes the database (app.api.errors: transient failures only).
UNAVAILABLE = error_docs(
    {status.HTTP_503_SERVICE_UNAVAILABLE: "The database does not answer; try again shortly."}
)
TASK_NOT_FOUND = error_docs(
    {status.HTTP_404_NOT_FOUND: "No such task for this user (another user's task included)."}
)
