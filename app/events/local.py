"""The embedded default's broker: the relay hands each wave of outbox events to the stats handler.

With no Kafka configured nothing else would ever read the outbox, so ``serve`` runs the same
relay (claim, waves, mark published) with this publisher in place of Kafka, and the events go
through the same handler as a consumer's (``StatsHandler.handle_batch``: one transaction,
deduped by event id). Stats are then true without a broker, and the backlog drains.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.events.handler import Outcome, StatsHandler, parse
from app.events.outbox import PendingEvent


class LocalPublisher:
    """Acknowledges an event once the handler has applied it (or dropped it as not ours)."""

    def __init__(self, handler: StatsHandler) -> None:
        self._handler = handler

    def publish(self, events: Sequence[PendingEvent]) -> set[int]:
        parsed = []
        for pending in events:
            event = parse(pending.payload)
            if event is None:
                self._handler.dropped()  # as a consumer would drop it: redelivery cannot help
            else:
                parsed.append(event)
        if parsed and self._handler.handle_batch(parsed) is Outcome.RETRY:
            return set()  # the database is away: nothing applied, the whole wave stays pending
        return {pending.id for pending in events}

    def reachable(self, timeout: float) -> bool:
        """The handler is in this process; whether the database answers, the batch finds out."""
        return True
