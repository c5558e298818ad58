"""Task rules and queries: ownership, keyset pagination, and the outbox write for every change.

Each change runs in one transaction that writes the task row and its outbox row, so an event is
published exactly when the change is saved (app.events.outbox). Writers first lock the task row
(``FOR UPDATE`` on PostgreSQL), which serialises changes of one task and makes the outbox ids of
one task follow commit order, which the relay's per-task ordering relies on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app.cache import TaskCache
from app.events import outbox
from app.events.cloudevents import EventKind, TaskEvent
from app.events.trace_context import current_traceparent
from app.models import Task, TaskStatus, utcnow
from app.schemas import TaskCreate, TaskPage, TaskPublic, TaskUpdate


class TaskNotFoundError(Exception):
    """No such task for this user; another user's task is reported the same way."""


# A position: microseconds since the epoch, a dot, the task id's hex. The schema shows this
# pattern and every string that matches it is a position to list from, so what the schema
# allows is what the service accepts (an opaque base64 token allowed strings it then refused).
# 16 digits reach the year 2286, within what a datetime holds. The route checks the pattern.
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9a-f]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """Position after the last item of a page: its (created_at, id), newest first."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        return f"{(self.created_at - _EPOCH) // _MICROSECOND}.{self.id.hex}"

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """``token`` matches ``CURSOR_PATTERN``."""
        micros, task_id = token.split(".")
        return cls(_EPOCH + int(micros) * _MICROSECOND, uuid.UUID(hex=task_id))


class TaskService:
    def __init__(
        self,
        session: Session,
        cache: TaskCache,
        *,
        user_id: uuid.UUID,
        event_source: str,
        request_id: str | None,
    ) -> None:
        self._session = session
        self._cache = cache
        self._user_id = user_id
        self._source = event_source
        self._request_id = request_id

    def create(self, data: TaskCreate) -> TaskPublic:
        now = utcnow()
        task = Task(
            user_id=self._user_id,
            created_at=now,
            updated_at=now,
            completed_at=now if data.status is TaskStatus.COMPLETED else None,
            **data.model_dump(),
        )
        self._session.add(task)
        self._session.flush()
        return self._commit(EventKind.CREATED, task)

    def get(self, task_id: uuid.UUID) -> TaskPublic:
        loaded = self._cache.read(
            self._user_id, f"task:{task_id}", lambda: self._load(task_id).model_dump(mode="json")
        )
        return TaskPublic.model_validate(loaded)

    def list(self, *, status: TaskStatus | None, limit: int, cursor: str | None) -> TaskPage:
        after = Cursor.decode(cursor) if cursor is not None else None
        entry = f"list:{status or 'all'}:{limit}:{cursor or ''}"
        loaded = self._cache.read(
            self._user_id, entry, lambda: self._page(status, limit, after).model_dump(mode="json")
        )
        return TaskPage.model_validate(loaded)

    def update(self, task_id: uuid.UUID, data: TaskUpdate) -> TaskPublic:
        """Changes the fields sent; sending only current values changes nothing, emits nothing."""
        task = self._locked(task_id)
        previous = task.status
        changes = {
            field: value
            for field, value in data.model_dump(exclude_unset=True).items()
            if getattr(task, field) != value
        }
        if not changes:
            unchanged = TaskPublic.model_validate(task)
            self._session.rollback()
            return unchanged
        for field, value in changes.items():
            setattr(task, field, value)
        if "status" in changes:
            task.completed_at = (
                (task.completed_at or utcnow()) if task.status is TaskStatus.COMPLETED else None
            )
        task.updated_at = utcnow()
        return self._commit(EventKind.UPDATED, task, previous)

    def complete(self, task_id: uuid.UUID) -> TaskPublic:
        """Idempotent: completing a completed task changes nothing and emits no event."""
        task = self._locked(task_id)
        if task.status is TaskStatus.COMPLETED:
            unchanged = TaskPublic.model_validate(task)
            self._session.rollback()
            return unchanged
        now = utcnow()
        task.status = TaskStatus.COMPLETED
        task.completed_at = now
        task.updated_at = now
        return self._commit(EventKind.COMPLETED, task, TaskStatus.PENDING)

    def delete(self, task_id: uuid.UUID) -> None:
        task = self._locked(task_id)
        self._session.delete(task)
        self._commit(EventKind.DELETED, task)

    def _commit(
        self, kind: EventKind, task: Task, previous: TaskStatus | None = None
    ) -> TaskPublic:
        """Write the event into the same transaction as the change, commit both, invalidate."""
        public = TaskPublic.model_validate(task)
        event = TaskEvent.about(
            kind,
            task=public,
            user_id=self._user_id,
            source=self._source,
            request_id=self._request_id,
            traceparent=current_traceparent(),
            previous_status=previous,
        )
        outbox.enqueue(self._session, event)
        self._session.commit()
        self._cache.invalidate(self._user_id)
        return public

    def _load(self, task_id: uuid.UUID) -> TaskPublic:
        task = self._session.scalar(
            select(Task).where(Task.id == task_id, Task.user_id == self._user_id)
        )
        if task is None:
            raise TaskNotFoundError(task_id)
        return TaskPublic.model_validate(task)

    def _locked(self, task_id: uuid.UUID) -> Task:
        task = self._session.scalar(
            select(Task).where(Task.id == task_id, Task.user_id == self._user_id).with_for_update()
        )
        if task is None:
            raise TaskNotFoundError(task_id)
        return task

    def _page(self, status: TaskStatus | None, limit: int, after: Cursor | None) -> TaskPage:
        query = select(Task).where(Task.user_id == self._user_id)
        if status is not None:
            query = query.where(Task.status == status)
        if after is not None:
            query = query.where(tuple_(Task.created_at, Task.id) < (after.created_at, after.id))
        # One extra row tells whether there is a next page without a COUNT.
        rows = self._session.scalars(
            query.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1)
        ).all()
        items = [TaskPublic.model_validate(task) for task in rows[:limit]]
        next_cursor = (
            Cursor(items[-1].created_at, items[-1].id).encode() if len(rows) > limit else None
        )
        return TaskPage(items=items, next_cursor=next_cursor)
