"""FastAPI dependencies: the runtime, a session per request, the caller, the task service.

FastAPI runs a sync dependency in a worker thread, one hand-off each, and a sync route twice
(the route, then its response's validation). Each hand-off wakes a thread that must take the GIL
from the event loop: a millisecond of CPU apiece on the 2-core machine (`bench.api_cost`: the
sync ``/healthz`` cost 2.8 ms, the async one 1.8). So what does no I/O (the runtime, the token's
signature) is ``async``, and the task routes, the hot path, are ``async`` and cross to a thread
once, for the caller's lookup and the work together (``Tasks.run``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.core.security import Claims, InvalidTokenError
from app.models import User
from app.runtime import Runtime
from app.services import revocations
from app.services.tasks import TaskService

T = TypeVar("T")

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


def signed_in(session: Session, claims: Claims) -> User:
    """The token's user, unless the token was signed out (every authenticated route asks)."""
    user, revoked = revocations.signed_in_user(session, claims)
    if revoked:
        raise unauthorized("this token was revoked by signing out")
    if user is None:
        raise unauthorized("invalid or expired token")
    return user


def get_current_user(session: SessionDep, claims: ClaimsDep) -> User:
    return signed_in(session, claims)


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass(frozen=True)
class Tasks:
    """A task route's request: the caller is looked up and the work done in one worker thread."""

    session: Session
    claims: Claims
    runtime: Runtime
    request_id: str

    async def run(self, work: Callable[[TaskService], T]) -> T:
        return await run_in_threadpool(self._run, work)

    def _run(self, work: Callable[[TaskService], T]) -> T:
        try:
            user = signed_in(self.session, self.claims)
            service = TaskService(
                self.session,
                self.runtime.cache,
                user_id=user.id,
                event_source=self.runtime.settings.event_source,
                request_id=self.request_id,
            )
            return work(service)
        finally:
            # Here, not in get_session: a read's open transaction ends without another hand-off.
            self.session.close()


async def get_tasks(
    request: Request, runtime: RuntimeDep, session: SessionDep, claims: ClaimsDep
) -> Tasks:
    return Tasks(session, claims, runtime, request.state.request_id)


TasksDep = Annotated[Tasks, Depends(get_tasks)]
