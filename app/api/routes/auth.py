"""Accounts and tokens: register, OAuth2 password login (rate-limited), who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status

from app.api.deps import CurrentUser, RuntimeDep, SessionDep
from app.models import User
from app.runtime import Runtime
from app.schemas import LoginForm, Token, UserCreate, UserPublic
from app.services import users

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _token(runtime: Runtime, user: User) -> Token:
    return Token(
        access_token=runtime.tokens.issue(user.id),
        expires_in=int(runtime.tokens.ttl.total_seconds()),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED)
def register(data: UserCreate, runtime: RuntimeDep, session: SessionDep) -> Token:
    try:
        user = users.register(session, runtime.passwords, data)
    except users.UsernameTakenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return _token(runtime, user)


@router.post("/token")
def login(
    form: Annotated[LoginForm, Form()],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
) -> Token:
    ip = request.client.host if request.client else "unknown"
    limiter = runtime.login_limiter
    wait = limiter.retry_after(form.username, ip)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many failed logins; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = users.authenticate(session, runtime.passwords, form.username, form.password)
    if user is None:
        limiter.failed(form.username, ip)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return _token(runtime, user)


@router.get("/me")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
