"""Signing out: a token's id is refused from then until the token expires.

The deny-list is a table, not Redis, so a sign-out survives restarts and holds with no Redis.
It stays small without a job of its own: each sign-out also deletes a batch of rows whose
tokens have expired (nobody can present those any more), so the table holds little more than
the sign-outs of one token lifetime (TODO_JWT_TTL_MINUTES).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.security import Claims
from app.models import RevokedToken

# Expired rows deleted per sign-out: more than one, so the table shrinks after a busy hour.
PRUNE_BATCH = 100


def is_revoked(session: Session, token_id: uuid.UUID) -> bool:
    return session.get(RevokedToken, token_id) is not None


def revoke(session: Session, claims: Claims, now: datetime) -> None:
    """Refuse ``claims``' token from now on; twice (a retried sign-out) is the same as once."""
    session.add(RevokedToken(token_id=claims.token_id, expires_at=claims.expires_at))
    try:
        session.flush()
    except IntegrityError:
        # A concurrent sign-out of the same token inserted it first: it is revoked.
        session.rollback()
        return
    expired = (
        select(RevokedToken.token_id)
        .where(RevokedToken.expires_at <= now)
        .order_by(RevokedToken.expires_at)
        .limit(PRUNE_BATCH)
    )
    session.execute(
        delete(RevokedToken).where(RevokedToken.token_id.in_(expired.scalar_subquery()))
    )
    session.commit()
