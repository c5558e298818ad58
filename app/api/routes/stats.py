"""The caller's counts, as maintained by the event consumer (not a query over tasks)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import CurrentUser, RuntimeDep, SessionDep
from app.api.openapi import TOO_LARGE, UNAUTHORIZED, UNAVAILABLE
from app.schemas import Stats

router = APIRouter(
    prefix="/api/v1/stats",
    tags=["stats"],
    responses={**TOO_LARGE, **UNAUTHORIZED, **UNAVAILABLE},
)


@router.get("")
def get_stats(user: CurrentUser, runtime: RuntimeDep, session: SessionDep) -> Stats:
    return runtime.handler.stats(session, user.id)
