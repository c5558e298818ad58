"""Our events: CloudEvents 1.0, structured mode (the whole envelope is the Kafka value, as JSON).

One model both writes (the outbox payload) and reads (the consumer's input), so producer and
consumer cannot drift apart. docs/events.md describes the schema for other consumers.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models import TaskStatus
from app.schemas import TaskPublic

TYPE_PREFIX = "todo.task."


class EventKind(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    COMPLETED = "completed"

    @property
    def topic(self) -> str:
        """The Kafka topic, without the deployment's prefix."""
        return f"task.{self.value}"

    @property
    def type(self) -> str:
        return f"{TYPE_PREFIX}{self.value}"


class TaskEventData(BaseModel):
    user_id: uuid.UUID
    task: TaskPublic = Field(description="The task after the change (before it, for deleted).")
    previous_status: TaskStatus | None = Field(
        None, description="The status before the change, for updated and completed."
    )


class TaskEvent(BaseModel):
    # Unknown extension attributes are kept, as CloudEvents requires of intermediaries.
    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    type: str
    source: str = Field(min_length=1)
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    requestid: str | None = Field(None, description="Extension: the HTTP request that caused it.")
    traceparent: str | None = Field(
        None,
        description="Extension (CloudEvents distributed tracing): the W3C trace context of the "
        "request that caused it.",
    )
    data: TaskEventData

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        kinds = [kind.type for kind in EventKind]
        if value not in kinds:
            raise ValueError(f"type {value!r} is not one of {kinds}")
        return value

    @property
    def kind(self) -> EventKind:
        return EventKind(self.type.removeprefix(TYPE_PREFIX))

    @classmethod
    def about(
        cls,
        kind: EventKind,
        *,
        task: TaskPublic,
        user_id: uuid.UUID,
        source: str,
        request_id: str | None,
        traceparent: str | None = None,
        previous_status: TaskStatus | None = None,
    ) -> TaskEvent:
        return cls(
            id=uuid.uuid4(),
            type=kind.type,
            source=source,
            subject=str(task.id),
            time=datetime.now(UTC),
            requestid=request_id,
            traceparent=traceparent,
            data=TaskEventData(user_id=user_id, task=task, previous_status=previous_status),
        )

    def to_json(self) -> str:
        # CloudEvents attributes are absent rather than null; data keeps its nulls.
        absent = {name for name in _OPTIONAL_EXTENSIONS if getattr(self, name) is None}
        return self.model_dump_json(exclude=absent or None)


_OPTIONAL_EXTENSIONS = ("requestid", "traceparent")
