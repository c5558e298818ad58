"""Liveness, readiness and metrics.

Liveness only says the process answers: a database outage must not get pods restarted into the
same outage. Readiness says the database answers, so traffic goes to pods that can serve it.
Redis is reported but does not affect readiness: the service answers without it.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.api.deps import RuntimeDep
from app.runtime import Runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep, response: Response) -> dict[str, str]:
    database = _database(runtime)
    cache = "disabled" if runtime.redis is None else ("ok" if runtime.cache.ping() else "down")
    if database != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {
        "status": "ready" if database == "ok" else "unavailable",
        "database": database,
        "cache": cache,
    }


def _database(runtime: Runtime) -> str:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return "down"
    return "ok"


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    # The outbox backlog collector queries the database: keep it off the event loop.
    body = await run_in_threadpool(generate_latest, runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
