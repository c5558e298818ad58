"""An index on ``processed_events.processed_at``, so pruning finds the oldest ids in batches.

Event ids are random, so without it every pruning batch would read the whole table. Building
it blocks the consumers' inserts for as long as it takes (seconds per million rows), once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])


def downgrade() -> None:
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
