"""The FastAPI application: routers, error mapping, and the lifespan that owns every client."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.body_limit import BodyLimitMiddleware
from app.api.docs import add_docs
from app.api.errors import add_error_handlers
from app.api.middleware import RequestContextMiddleware
from app.api.openapi import operation_id
from app.api.routes import auth, events, health, stats, tasks
from app.api.web_ui import add_web_ui
from app.core.config import Settings, get_settings
from app.metrics import Metrics
from app.runtime import Runtime
from app.tracing import Tracing

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    tracing: Tracing | None = None,
) -> FastAPI:
    """``clock``: see ``Runtime.open``. ``tracing``: as the settings say, unless given."""
    settings = settings or get_settings()
    metrics = Metrics()
    tracing = tracing or Tracing.from_settings(settings, "todo-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.open(settings, metrics, clock, tracing)
        app.state.runtime = runtime
        backlog = metrics.watch_backlog(runtime.backlog)
        stop = threading.Event()
        workers = _start_relay(runtime, stop) if settings.relay_runs_in_serve else []
        try:
            yield
        finally:
            stop.set()
            for worker in workers:
                worker.join()
            metrics.registry.unregister(backlog)
            runtime.close()

    # Our own docs pages (app.api.docs): FastAPI's load Swagger UI and ReDoc from a CDN.
    app = FastAPI(
        title="todo-api",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    add_docs(app, app.openapi_url or "/openapi.json")
    # Inside the request context, so a 413 is logged and counted like any answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    for router in (auth.router, tasks.router, stats.router, events.router, health.router):
        app.include_router(router)
    add_web_ui(app)
    add_error_handlers(app)
    tracing.instrument_app(app)
    return app


def _start_relay(runtime: Runtime, stop: threading.Event) -> list[threading.Thread]:
    """The relay, and the pruning that goes wherever the relay runs (app.events.pruning)."""
    threads = [
        threading.Thread(
            target=runtime.relay().run, args=(stop,), name="outbox-relay", daemon=True
        ),
        threading.Thread(target=runtime.pruner().run, args=(stop,), name="pruner", daemon=True),
    ]
    for thread in threads:
        thread.start()
    log.info("outbox relay and pruning running in-process")
    return threads
