"""Accounts: registration and password login; usernames match whatever their case."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.security import Passwords
from app.models import User
from app.schemas import UserCreate


class UsernameTakenError(Exception):
    """The name is not repeated in the message: an error never echoes the request."""

    def __init__(self) -> None:
        super().__init__("this username is already taken")


def register(session: Session, passwords: Passwords, data: UserCreate) -> User:
    user = User(username=data.username, password_hash=passwords.hash(data.password))
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:
        # The unique index on lower(username) decides, so two concurrent registrations (of
        # `alice` and `ALICE` too) cannot both win.
        session.rollback()
        raise UsernameTakenError from exc
    return user


def authenticate(
    session: Session, passwords: Passwords, username: str, password: str
) -> User | None:
    # lower() in SQL, so the lookup is the unique index's expression and uses it.
    user = session.scalar(select(User).where(func.lower(User.username) == func.lower(username)))
    ok = passwords.verify(user.password_hash if user is not None else None, password)
    return user if ok else None
