"""FastAPI dependencies: the runtime, a session per request, the caller, the task service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from app.core.security import Claims, InvalidTokenError
from app.models import User
from app.runtime import Runtime
from app.services import revocations, users
from app.services.tasks import TaskService

LOGIN_ROUTE = "/api/v1/auth/token"
_bearer = OAuth2PasswordBearer(tokenUrl=LOGIN_ROUTE, auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def get_claims(runtime: RuntimeDep, token: Annotated[str | None, Depends(_bearer)]) -> Claims:
    if token is None:
        raise unauthorized("not authenticated")
    try:
        return runtime.tokens.decode(token)
    except InvalidTokenError as exc:
        raise unauthorized("invalid or expired token") from exc


ClaimsDep = Annotated[Claims, Depends(get_claims)]


def get_current_user(session: SessionDep, claims: ClaimsDep) -> User:
    """The token's user, unless the token was signed out (every authenticated route asks)."""
    if revocations.is_revoked(session, claims.token_id):
        raise unauthorized("this token was revoked by signing out")
    user = users.get(session, claims.subject)
    if user is None:
        raise unauthorized("invalid or expired token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_task_service(
    request: Request, runtime: RuntimeDep, session: SessionDep, user: CurrentUser
) -> TaskService:
    return TaskService(
        session,
        runtime.cache,
        user_id=user.id,
        event_source=runtime.settings.event_source,
        request_id=request.state.request_id,
    )


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
