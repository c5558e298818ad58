"""Liveness, readiness and metrics.

Liveness only says the process answers: a database outage must not get pods restarted into the
same outage. Readiness says the database answers and its schema is not behind this version's
(every call would fail on missing tables or columns), so traffic goes to pods that can serve
it; when not ready, ``reason`` says why. Redis is reported but does not affect readiness: the
service answers without it.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app import migrate
from app.api.deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep, response: Response) -> dict[str, str]:
    cache = "disabled" if runtime.redis is None else ("ok" if runtime.cache.ping() else "down")
    try:
        with runtime.engine.connect() as connection:
            schema = migrate.state(connection)
    except SQLAlchemyError:
        reason = "the database does not answer"
        database, schema_status = "down", "unknown"
    else:
        reason = f"{schema.describe()}; run `todo-api migrate`" if schema.behind else ""
        database, schema_status = "ok", schema.status
    body = {"status": "ready", "database": database, "schema": schema_status, "cache": cache}
    if reason:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        body.update(status="unavailable", reason=reason)
    return body


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    # The outbox backlog collector queries the database: keep it off the event loop.
    body = await run_in_threadpool(generate_latest, runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
