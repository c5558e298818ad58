"""The FastAPI application: routers, error mapping, and the lifespan that owns every client."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.api.middleware import RequestContextMiddleware
from app.api.routes import auth, events, health, stats, tasks
from app.core.config import Settings, get_settings
from app.db import is_transient
from app.metrics import Metrics
from app.runtime import Runtime
from app.services.tasks import InvalidCursorError, TaskNotFoundError

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.open(settings, metrics)
        app.state.runtime = runtime
        backlog = metrics.watch_backlog(runtime.backlog)
        stop = threading.Event()
        relay_thread = _start_relay(runtime, stop) if settings.relay_in_process else None
        try:
            yield
        finally:
            stop.set()
            if relay_thread is not None:
                relay_thread.join()
            metrics.registry.unregister(backlog)
            runtime.close()

    app = FastAPI(title="todo-api", version="0.1.0", lifespan=lifespan)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    for router in (auth.router, tasks.router, stats.router, events.router, health.router):
        app.include_router(router)
    _add_error_handlers(app)
    return app


def _start_relay(runtime: Runtime, stop: threading.Event) -> threading.Thread | None:
    relay = runtime.relay()
    if relay is None:
        return None
    thread = threading.Thread(target=relay.run, args=(stop,), name="outbox-relay", daemon=True)
    thread.start()
    log.info("outbox relay running in-process")
    return thread


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TaskNotFoundError)
    async def not_found(_request: Request, exc: TaskNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": f"task {exc} not found"}, status.HTTP_404_NOT_FOUND)

    @app.exception_handler(InvalidCursorError)
    async def bad_cursor(_request: Request, exc: InvalidCursorError) -> JSONResponse:
        # The same shape as FastAPI's own validation errors, naming the parameter.
        detail = [{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(SQLAlchemyError)
    async def database_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if not is_transient(exc):
            raise exc
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"detail": "database unavailable, try again shortly"},
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
