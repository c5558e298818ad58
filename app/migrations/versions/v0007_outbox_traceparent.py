"""``outbox.traceparent``: the W3C trace context of the request that wrote the event.

The relay parents its Kafka producer span on it (docs/traces.md) without parsing the payload,
where the same value travels as the CloudEvent's ``traceparent`` extension. Nullable: rows
written with tracing off, or before this revision, have none, and the relay traces nothing
for them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("traceparent", sa.String(55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")
