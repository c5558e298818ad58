"""Usernames unique whatever their case: a unique index on ``lower(username)``.

Rows that already collide (``alice`` and ``ALICE``, registered before this revision) are not
merged or renamed here: each is someone's account with its own tasks, and which one should keep
the name is a decision for a person. The revision fails instead, naming every colliding
username, and changes nothing; once they are renamed (or removed), migrating again succeeds.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.migrate import MigrationRefusedError

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# Groups listed in the error; the count of the others follows them.
SHOWN_GROUPS = 20


def upgrade() -> None:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT username FROM users WHERE lower(username) IN"
            " (SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1)"
        )
    )
    groups: dict[str, list[str]] = {}
    # Sorted here, not in SQL: the databases' collations order case differently.
    for (username,) in sorted(rows, key=lambda row: (row[0].lower(), row[0])):
        groups.setdefault(username.lower(), []).append(username)
    if groups:
        listed = "; ".join(
            ", ".join(repr(u) for u in names) for names in list(groups.values())[:SHOWN_GROUPS]
        )
        more = len(groups) - SHOWN_GROUPS
        raise MigrationRefusedError(
            f"usernames are becoming case-insensitive, and {len(groups)} group(s) of accounts "
            f"differ only in case: {listed}{f' (and {more} more)' if more > 0 else ''}. "
            "Rename or remove all but one account of each group, then migrate again"
        )
    op.create_index("ux_users_username_lower", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("ux_users_username_lower", table_name="users")
