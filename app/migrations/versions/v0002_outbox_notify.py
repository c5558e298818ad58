"""Outbox wake-up: every transaction that inserts outbox rows notifies the relay at its commit.

A statement-level trigger, so the API's write path gains no round trip: PostgreSQL delivers the
notification at commit (never for a rolled-back write) and folds repeats within a transaction.
The relay LISTENs and still polls, so a lost notification only costs a poll interval.
PostgreSQL only; SQLite has no notifications (its relay polls).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copy of app.events.wakeup.CHANNEL, so this revision never changes under it.
CHANNEL = "todo_outbox"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION todo_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox"
        " FOR EACH STATEMENT EXECUTE FUNCTION todo_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION todo_outbox_notify()")
