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

from sqlalchemy import Select, delete, select, tuple_
from sqlalchemy.orm import Session

from app.cache import TaskCache
from app.events import outbox
from app.events.cloudevents import EventKind, TaskEvent
from app.events.trace_context import current_traceparent
from app.models import Task, TaskPriority, TaskStatus, TaskTag, utcnow
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
class TaskFilters:
    """What a list is narrowed to; each field left None does not narrow it. Every value is
    exact: ``tag`` as stored (the schema's trimming already applied)."""

    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    tag: str | None = None


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
        self._index_tags(task)
        return self._commit(EventKind.CREATED, task)

    def get(self, task_id: uuid.UUID) -> TaskPublic:
        loaded = self._cache.read(
            self._user_id, f"task:{task_id}", lambda: self._load(task_id).model_dump(mode="json")
        )
        return TaskPublic.model_validate(loaded)

    def list(self, filters: TaskFilters, *, limit: int, cursor: str | None) -> TaskPage:
        after = Cursor.decode(cursor) if cursor is not None else None
        # The tag last: it is the only part that may hold a colon.
        entry = (
            f"list:{filters.status or ''}:{filters.priority or ''}:{limit}:{cursor or ''}"
            f":{'' if filters.tag is None else '#' + filters.tag}"
        )
        loaded = self._cache.read(
            self._user_id, entry, lambda: self._page(filters, limit, after).model_dump(mode="json")
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
        if "tags" in changes:
            self._session.execute(delete(TaskTag).where(TaskTag.task_id == task.id))
            self._index_tags(task)
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

    def _index_tags(self, task: Task) -> None:
        self._session.add_all(
            TaskTag(task_id=task.id, tag=tag, user_id=task.user_id, created_at=task.created_at)
            for tag in task.tags
        )

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

    def _page(self, filters: TaskFilters, limit: int, after: Cursor | None) -> TaskPage:
        # One extra row tells whether there is a next page without a COUNT.
        rows = self._session.scalars(page_query(self._user_id, filters, limit + 1, after)).all()
        items = [TaskPublic.model_validate(task) for task in rows[:limit]]
        next_cursor = (
            Cursor(items[-1].created_at, items[-1].id).encode() if len(rows) > limit else None
        )
        return TaskPage(items=items, next_cursor=next_cursor)


def page_query(
    user_id: uuid.UUID, filters: TaskFilters, limit: int, after: Cursor | None
) -> Select[Task]:
    """Up to ``limit`` of one user's tasks that pass every filter, newest first, after ``after``.

    It walks one index from the cursor on and stops at ``limit`` rows: by tag, the tag index
    (its copies of created_at and id give the order and the position); else the tasks' own
    (user, created_at, id), (user, status, ...) or (user, priority, ...) as the planner picks.
    """
    query = select(Task)
    created_at, task_id = Task.created_at, Task.id
    if filters.tag is None:
        query = query.where(Task.user_id == user_id)
    else:
        # The owner is the tag row's (the task's, copied); asking the task too once led the
        # planner to scan the user's tasks for each tag row instead of taking the primary key.
        query = query.join(TaskTag, TaskTag.task_id == Task.id).where(
            TaskTag.user_id == user_id, TaskTag.tag == filters.tag
        )
        created_at, task_id = TaskTag.created_at, TaskTag.task_id
    if filters.status is not None:
        query = query.where(Task.status == filters.status)
    if filters.priority is not None:
        query = query.where(Task.priority == filters.priority)
    if after is not None:
        query = query.where(tuple_(created_at, task_id) < (after.created_at, after.id))
    return query.order_by(created_at.desc(), task_id.desc()).limit(limit)
