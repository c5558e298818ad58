"""Initial schema: users, tasks, outbox, user_stats, processed_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

PENDING_ONLY = sa.text("published_at IS NULL")
# Frozen copies of app.models' portable types, so this revision never changes under it.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def UtcDateTime() -> sa.DateTime:  # noqa: N802 (reads like the model's type it stands for)
    return sa.DateTime(timezone=True)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("status", _enum("task_status", "pending", "completed"), nullable=False),
        sa.Column("priority", _enum("task_priority", "low", "medium", "high"), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_tasks_user_created", "tasks", ["user_id", "created_at", "id"])
    op.create_index(
        "ix_tasks_user_status_created", "tasks", ["user_id", "status", "created_at", "id"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=PENDING_ONLY,
        sqlite_where=PENDING_ONLY,
    )
    op.create_index(
        "ix_outbox_pending_task",
        "outbox",
        ["task_id", "id"],
        postgresql_where=PENDING_ONLY,
        sqlite_where=PENDING_ONLY,
    )
    op.create_table(
        "user_stats",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("processed_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("user_stats")
    op.drop_index("ix_outbox_pending_task", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_tasks_user_status_created", table_name="tasks")
    op.drop_index("ix_tasks_user_created", table_name="tasks")
    op.drop_table("tasks")
    op.drop_table("users")
