"""Passwords (argon2id) and access tokens (JWT, HS256).

Decoding pins the algorithm list to HS256, so a token with ``alg=none`` or any other algorithm is
rejected rather than trusted, and requires ``exp`` and ``sub`` so a token cannot live forever,
and ``jti``, the id signing out revokes (app.services.revocations).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"


class InvalidTokenError(Exception):
    """The bearer token is absent, malformed, expired, or signed with another key."""


@dataclass(frozen=True)
class Passwords:
    """Argon2id hashing; ``verify`` spends the same time whether or not the user exists."""

    hasher: PasswordHasher
    decoy: str

    @classmethod
    def create(cls, memory_kib: int) -> Passwords:
        hasher = PasswordHasher(memory_cost=memory_kib)
        return cls(hasher, hasher.hash("decoy password"))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        # An unknown user still pays for one verification, so timing does not reveal usernames.
        target = password_hash if password_hash is not None else self.decoy
        try:
            ok = self.hasher.verify(target, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None


@dataclass(frozen=True)
class Claims:
    """What a valid token says: whose it is, its id, and when it stops being valid."""

    subject: uuid.UUID
    token_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class Tokens:
    secret: str
    ttl: timedelta

    def issue(self, user_id: uuid.UUID, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "jti": str(uuid.uuid4()),
            "iat": issued,
            "exp": issued + self.ttl,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> Claims:
        """The token's claims if we signed it and it has not expired; else InvalidTokenError."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "jti"]},
            )
            return Claims(
                subject=uuid.UUID(str(claims["sub"])),
                token_id=uuid.UUID(str(claims["jti"])),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
            raise InvalidTokenError(str(exc)) from exc
