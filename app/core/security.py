"""Passwords (argon2id) and access tokens (JWT, HS256).

Decoding pins the algorithm list to HS256, so a token with ``alg=none`` or any other algorithm is
rejected rather than trusted, and requires ``exp`` and ``sub`` so a token cannot live forever.
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
class Tokens:
    secret: str
    ttl: timedelta

    def issue(self, user_id: uuid.UUID, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": issued, "exp": issued + self.ttl}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def subject(self, token: str) -> uuid.UUID:
        """The user id the token was issued to; raises InvalidTokenError otherwise."""
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
            return uuid.UUID(str(claims["sub"]))
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidTokenError(str(exc)) from exc
