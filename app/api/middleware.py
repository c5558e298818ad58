"""Per-request context: request id, JSON access log, request count and latency metrics.

A plain ASGI middleware (not BaseHTTPMiddleware): it adds no task or buffering per request.
Metrics are labelled by route template (``/api/v1/tasks/{task_id}``), never by raw path, so
label cardinality stays bounded; unmatched paths share one label.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logs import request_id_var
from app.metrics import Metrics

log = logging.getLogger("app.access")

REQUEST_ID_HEADER = b"x-request-id"
# Accept a caller's id only if it is short and plain, so it cannot inject into logs.
_SAFE_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.http_requests.labels(method, template, str(status)).inc()
            self.metrics.http_latency.labels(method, template).observe(elapsed)
            log.info(
                "%s %s %d",
                method,
                scope["path"],
                status,
                extra={"route": template, "status": status, "duration_ms": elapsed * 1000},
            )
            request_id_var.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _SAFE_ID.match(value):
            return str(value.decode())
    return uuid.uuid4().hex
