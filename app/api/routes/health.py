"""Liveness, readiness and metrics.

Liveness only says the process answers: a database outage must not get pods restarted into the
same outage. Readiness says the database answers and its schema is not behind this version's
(every call would fail on missing tables or columns), so traffic goes to pods that can serve
it; when not ready, ``reason`` says why. Redis is reported but does not affect readiness: the
service answers without it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app import migrate
from app.api.deps import RuntimeDep
from app.api.openapi import TOO_LARGE, Responses, bodiless
from app.schemas import never_null

router = APIRouter(tags=["operations"], responses=TOO_LARGE)


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra=never_null("reason"))

    status: Literal["ready", "unavailable"]
    database: Literal["ok", "down"]
    schema_: Literal["current", "ahead", "behind", "unknown"] = Field(alias="schema")
    cache: Literal["ok", "down", "disabled"]
    reason: str | None = Field(None, description="Why not ready; absent when ready.")


_NOT_READY: Responses = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": Readiness,
        "description": "Not ready: the database does not answer, or its schema is behind.",
    }
}
# HEAD answers the same status with no body, for probes and monitors that only look at that;
# a 413 too has no body there.
_NO_BODY: Responses = {
    **bodiless(TOO_LARGE),
    status.HTTP_200_OK: {"description": "The status alone.", "content": None},
}


@router.get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")


@router.head("/healthz", response_class=Response, responses=_NO_BODY)
def healthz_head() -> Response:
    return Response()


def _readiness(runtime: RuntimeDep) -> Readiness:
    cache = "disabled" if runtime.redis is None else ("ok" if runtime.cache.ping() else "down")
    try:
        with runtime.engine.connect() as connection:
            schema = migrate.state(connection)
    except SQLAlchemyError:
        return Readiness(
            status="unavailable",
            database="down",
            schema_="unknown",
            cache=cache,
            reason="the database does not answer",
        )
    if schema.behind:
        return Readiness(
            status="unavailable",
            database="ok",
            schema_=schema.status,
            cache=cache,
            reason=f"{schema.describe()}; run `todo-api migrate`",
        )
    return Readiness(status="ready", database="ok", schema_=schema.status, cache=cache)


def _status(readiness: Readiness) -> int:
    ready = readiness.status == "ready"
    return status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE


@router.get("/readyz", responses=_NOT_READY, response_model_exclude_none=True)
def readyz(runtime: RuntimeDep, response: Response) -> Readiness:
    readiness = _readiness(runtime)
    response.status_code = _status(readiness)
    return readiness


@router.head(
    "/readyz",
    response_class=Response,
    responses={
        **_NO_BODY,
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "description": _NOT_READY[status.HTTP_503_SERVICE_UNAVAILABLE]["description"],
            "content": None,
        },
    },
)
def readyz_head(runtime: RuntimeDep) -> Response:
    return Response(status_code=_status(_readiness(runtime)))


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        status.HTTP_200_OK: {
            "description": "Prometheus' text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(runtime: RuntimeDep) -> Response:
    # The outbox backlog collector queries the database: keep it off the event loop.
    body = await run_in_threadpool(generate_latest, runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
