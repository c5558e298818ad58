"""Tables: users, their tasks and the tasks' tag index, revoked tokens, the outbox, and the
consumer's per-user stats.

Types are chosen to mean the same on PostgreSQL and SQLite: ``Uuid`` (native uuid / 32-char
text), ``UtcDateTime`` (always timezone-aware UTC in Python), ``JSON`` for tags.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"


class TaskPriority(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes; SQLite has no time zones and would return naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    # A VARCHAR with a CHECK constraint: no PostgreSQL ENUM type to migrate when values change.
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, uuid.UUID: Uuid}


class User(Base):
    """``alice`` and ``ALICE`` are one account: unique on ``lower(username)`` (migration 0004);
    the name keeps the case it was registered with."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# After the class, since the expression needs the mapped column.
Index("ux_users_username_lower", func.lower(User.username), unique=True)


class RevokedToken(Base):
    """A signed-out token's id, refused until the token would have expired anyway; then the
    row is pruned (app.services.revocations)."""

    __tablename__ = "revoked_tokens"
    __table_args__ = (Index("ix_revoked_tokens_expires_at", "expires_at"),)

    token_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # Keyset pagination walks (created_at, id) within one user's tasks, optionally by status
        # or by priority; a page reads its rows and no more. With both filters one index is
        # walked and the other field checked on each row it yields.
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_status_created", "user_id", "status", "created_at", "id"),
        Index("ix_tasks_user_priority_created", "user_id", "priority", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[TaskStatus] = mapped_column(
        _enum(TaskStatus, "task_status"), default=TaskStatus.PENDING
    )
    priority: Mapped[TaskPriority] = mapped_column(
        _enum(TaskPriority, "task_priority"), default=TaskPriority.MEDIUM
    )
    due_date: Mapped[date | None] = mapped_column(Date)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()


class TaskTag(Base):
    """One tag of one task, so a tag filter walks an index on PostgreSQL and SQLite alike.

    ``tasks.tags`` (JSON, in the order given) stays what the API shows; neither backend can
    index inside it the same way (SQLite cannot at all). The rows are written with the task's
    in the same transaction (app.services.tasks) and go with it (``ON DELETE CASCADE``).
    ``user_id`` and ``created_at`` are the task's, which never change, copied so a page of one
    user's tasks with a tag is read in (created_at, id) order from the index alone.
    """

    __tablename__ = "task_tags"
    __table_args__ = (
        Index("ix_task_tags_user_tag_created", "user_id", "tag", "created_at", "task_id"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class OutboxEvent(Base):
    """An event waiting for the relay; written in the same transaction as the task change.

    ``id`` orders events. For one task, ids follow commit order, because every writer of a task
    takes the task row's lock before inserting its outbox row (see app.services.tasks).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # Both indexes cover only unpublished rows, so they stay small however long rows are kept.
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        Index(
            "ix_outbox_pending_task",
            "task_id",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    topic: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[uuid.UUID] = mapped_column()
    payload: Mapped[str] = mapped_column(Text)
    # The writer's W3C trace context (55 characters: version, trace id, span id, flags), read by
    # the relay to parent its producer span; NULL when the write was not traced.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()


class UserStats(Base):
    """The consumer's read model: per-user counts, changed only by events."""

    __tablename__ = "user_stats"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    total: Mapped[int] = mapped_column(default=0)
    pending: Mapped[int] = mapped_column(default=0)
    completed: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """Event ids the consumer has applied; the primary key makes a second delivery a no-op."""

    __tablename__ = "processed_events"
    # Pruning finds the oldest ids by time (app.events.pruning); the ids themselves are random.
    __table_args__ = (Index("ix_processed_events_processed_at", "processed_at"),)

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)
