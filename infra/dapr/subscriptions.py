"""Declarative Subscriptions (``dapr.io/v2alpha1``): each task topic to its app route."""

from __future__ import annotations

from typing import Any

EVENT_KINDS = ("created", "updated", "deleted", "completed")
"""One topic per kind, ``task.<kind>``, routed to ``/events/task/<kind>`` on the app."""


def topic(kind: str) -> str:
    return f"task.{kind}"


def route(kind: str) -> str:
    return f"/events/task/{kind}"


def subscription_spec(kind: str, *, pubsub: str) -> dict[str, Any]:
    """Deliver every event of ``task.<kind>`` from ``pubsub`` to the app's handler for it."""
    return {"pubsubname": pubsub, "topic": topic(kind), "routes": {"default": route(kind)}}
