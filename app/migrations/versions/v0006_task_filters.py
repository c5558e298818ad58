"""Indexes for listing tasks by priority and by tag: ``ix_tasks_user_priority_created``, and
``task_tags``, one row per tag of a task, filled from the tasks already there.

Tags live in ``tasks.tags`` (JSON), which neither backend indexes alike (SQLite not at all), so
a tag filter would read every task of the user to fill a page. Both backends walk an index on
(user, tag, created_at, task) instead, as they do for status.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# Each task's tags as rows, in each backend's words for a JSON array's elements; DISTINCT keeps
# a repeated tag to one row.
_BACKFILL = {
    "postgresql": """
        INSERT INTO task_tags (task_id, tag, user_id, created_at)
        SELECT DISTINCT tasks.id, each_tag.value, tasks.user_id, tasks.created_at
        FROM tasks, json_array_elements_text(tasks.tags) AS each_tag(value)
    """,
    "sqlite": """
        INSERT INTO task_tags (task_id, tag, user_id, created_at)
        SELECT DISTINCT tasks.id, each_tag.value, tasks.user_id, tasks.created_at
        FROM tasks, json_each(tasks.tags) AS each_tag
    """,
}


def upgrade() -> None:
    op.create_index(
        "ix_tasks_user_priority_created", "tasks", ["user_id", "priority", "created_at", "id"]
    )
    op.create_table(
        "task_tags",
        sa.Column(
            "task_id",
            sa.Uuid(),
            sa.ForeignKey("tasks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_task_tags_user_tag_created", "task_tags", ["user_id", "tag", "created_at", "task_id"]
    )
    op.execute(_BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    op.drop_index("ix_task_tags_user_tag_created", table_name="task_tags")
    op.drop_table("task_tags")
    op.drop_index("ix_tasks_user_priority_created", table_name="tasks")
