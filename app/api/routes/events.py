"""Dapr's pub/sub contract: subscriptions on GET /dapr/subscribe, deliveries on POST.

The subscriptions are the service's own (programmatic): the stacks create no declarative
Subscription, so topics and routes are defined once, here, from the event kinds the handler
knows and the settings the native consumer uses too.

Each delivery answers 200 with ``{"status": ...}``: SUCCESS (applied, or already applied),
RETRY (a transient failure: Dapr redelivers later), DROP (not one of our events: redelivery
would not help). A failure that is none of these raises and answers 500, which Dapr retries.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Request, status
from opentelemetry import context, trace
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.api.deps import RuntimeDep
from app.api.openapi import INVALID, TOO_LARGE, error_docs
from app.core.config import Settings
from app.events.cloudevents import EventKind
from app.events.handler import Outcome, parse
from app.events.trace_context import start_process_span

router = APIRouter(tags=["events"], responses=TOO_LARGE)

EVENT_ROUTE = "/events/task/{kind}"


class DaprSubscription(BaseModel):
    pubsubname: str
    topic: str
    route: str


DaprStatusValue = Literal["SUCCESS", "RETRY", "DROP"]


class DaprStatus(BaseModel):
    status: DaprStatusValue


_STATUS: dict[Outcome, DaprStatusValue] = {
    Outcome.APPLIED: "SUCCESS",
    Outcome.DUPLICATE: "SUCCESS",
    Outcome.RETRY: "RETRY",
    Outcome.DROP: "DROP",
}


def dapr_subscriptions(settings: Settings) -> list[DaprSubscription]:
    """One subscription per event kind: its topic (with the prefix) to its delivery route."""
    return [
        DaprSubscription(
            pubsubname=settings.dapr_pubsub_name,
            topic=settings.kafka_topic_prefix + kind.topic,
            route=EVENT_ROUTE.format(kind=kind.value),
        )
        for kind in EventKind
    ]


@router.get("/dapr/subscribe")
def subscriptions(runtime: RuntimeDep) -> list[DaprSubscription]:
    return dapr_subscriptions(runtime.settings)


# The body is read as it comes: whatever is not one of our CloudEvents is answered DROP, not
# refused, so the schema allows any body (and none).
_ANY_BODY = {
    "requestBody": {
        "required": False,
        "description": "A CloudEvent of the path's kind, as Dapr delivers it.",
        "content": {
            media: {"schema": {}} for media in ("application/cloudevents+json", "application/json")
        },
    }
}


@router.post(
    EVENT_ROUTE,
    openapi_extra=_ANY_BODY,
    responses={
        **INVALID,
        **error_docs(
            {
                status.HTTP_401_UNAUTHORIZED: "`TODO_DAPR_APP_TOKEN` is set and the request's "
                "`dapr-api-token` is missing or another."
            }
        ),
    },
)
async def deliver(
    kind: EventKind,
    request: Request,
    runtime: RuntimeDep,
    dapr_api_token: Annotated[str | None, Header()] = None,
) -> DaprStatus:
    expected = runtime.settings.dapr_app_token
    if expected is not None and not hmac.compare_digest(
        (dapr_api_token or "").encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or wrong dapr-api-token")
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    event = parse(body) if isinstance(body, dict) else None
    if event is None or event.kind is not kind:
        return DaprStatus(status=_STATUS[runtime.handler.dropped()])
    tracer = runtime.tracing.tracer
    span = None
    if tracer is not None:
        topic = runtime.settings.kafka_topic_prefix + kind.topic
        span = start_process_span(tracer, topic, event, context.get_current())
    if span is None:
        outcome = await run_in_threadpool(runtime.handler.handle, event)
    else:
        with trace.use_span(span, end_on_exit=True):
            outcome = await run_in_threadpool(runtime.handler.handle, event)
    return DaprStatus(status=_STATUS[outcome])
