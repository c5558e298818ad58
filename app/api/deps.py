"""FastAPI dependencies: the runtime, a session per request, the caller, the task service.

FastAPI runs a sync dependency in a worker thread, one hand-off each, and each hand-off wakes a
thread that must take the GIL from the event loop. Profiled at 200 writes/s (py-spy), those
hand-offs were a fifth of the API's CPU. So what does no I/O (the runtime, the token's
signature, building a service) is ``async``, and a write crosses to a thread twice: once for
the caller's lookup, once for the route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.core.security import Claims, InvalidTokenError
from app.models import User
from app.runtime import Runtime
from app.services import revocations
from app.services.tasks import TaskService

LOGIN_ROUTE = "/api/v1/auth/token"
_bearer = OAuth2PasswordBearer(tokenUrl=LOGIN_ROUTE, auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """A session opens no connection until first used. Closing one talks to the database only
    while a transaction is open (a read, a failed write): then it goes to a thread. A committed
    write has already given its connection back."""
    session = runtime.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def get_claims(runtime: RuntimeDep, token: Annotated[str | None, Depends(_bearer)]) -> Claims:
    if token is None:
        raise unauthorized("not authenticated")
    try:
        return runtime.tokens.decode(token)
    except InvalidTokenError as exc:
        raise unauthorized("invalid or expired token") from exc


ClaimsDep = Annotated[Claims, Depends(get_claims)]


def get_current_user(session: SessionDep, claims: ClaimsDep) -> User:
    """The token's user, unless the token was signed out (every authenticated route asks)."""
    user, revoked = revocations.signed_in_user(session, claims)
    if revoked:
        raise unauthorized("this token was revoked by signing out")
    if user is None:
        raise unauthorized("invalid or expired token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_task_service(
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
