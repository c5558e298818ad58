"""Accounts and tokens: register, OAuth2 password login (throttled), who am I, sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status

from app.api.deps import ClaimsDep, CurrentUser, RuntimeDep, SessionDep, get_current_user
from app.api.openapi import (
    INVALID,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNREADABLE,
    error_docs,
)
from app.models import User, utcnow
from app.runtime import Runtime
from app.schemas import LoginForm, Token, UserCreate, UserPublic
from app.services import revocations, users

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses={**TOO_LARGE, **UNAVAILABLE})


def _token(runtime: Runtime, user: User) -> Token:
    return Token(
        access_token=runtime.tokens.issue(user.id),
        expires_in=int(runtime.tokens.ttl.total_seconds()),
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={
        **UNREADABLE,
        **INVALID,
        **error_docs(
            {status.HTTP_409_CONFLICT: "The username is taken, in any mix of upper and lower case."}
        ),
    },
)
def register(data: UserCreate, runtime: RuntimeDep, session: SessionDep) -> Token:
    """Usernames are unique whatever their case: `alice` and `ALICE` are one account."""
    try:
        user = users.register(session, runtime.passwords, data)
    except users.UsernameTakenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return _token(runtime, user)


@router.post(
    "/token",
    responses={
        **UNREADABLE,
        **INVALID,
        **error_docs(
            {
                status.HTTP_401_UNAUTHORIZED: "Wrong username or password.",
                status.HTTP_429_TOO_MANY_REQUESTS: "Too many failed logins for this username "
                "from this client, or from this client: wait `Retry-After` seconds. The wait "
                "doubles with each further failure; other clients are not slowed.",
            }
        ),
    },
)
def login(
    form: Annotated[LoginForm, Form()],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
) -> Token:
    """The username matches in any case. Failed logins slow this username from this client."""
    client = request.client.host if request.client else "unknown"
    throttle = runtime.login_throttle
    wait = throttle.retry_after(form.username, client)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = users.authenticate(session, runtime.passwords, form.username, form.password)
    if user is None:
        throttle.failed(form.username, client)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.succeeded(form.username, client)
    return _token(runtime, user)


@router.get("/me", responses=UNAUTHORIZED)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(get_current_user)],
    responses=UNAUTHORIZED,
)
def logout(claims: ClaimsDep, session: SessionDep) -> Response:
    """Revoke the presented token: from now until it expires, every route refuses it (401)."""
    revocations.revoke(session, claims, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
