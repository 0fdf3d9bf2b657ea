"""`/v1/audit-events`: the account's trail, newest first, guarded by policy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from iam.access import guard
from iam.api.deps import MAX_ROW_ID, CurrentPrincipal, Limit, RuntimeDep, UtcDatetime
from iam.api.schemas import Public
from iam.audit import trail

router = APIRouter(prefix="/v1/audit-events", tags=["audit"])
AUDIT_READ = "iam-access-management.audit.list"
_NAIVE = ("ISO 8601; without a time zone it is taken as UTC (`2024-01-01T00:00:00` = "
          "`2024-01-01T00:00:00Z`)")
SINCE = f"events at or after this time; {_NAIVE}"
UNTIL = f"events before this time; {_NAIVE}"


class AuditEventPublic(Public):
    id: int
    ts: datetime
    actor: str
    action: str
    outcome: str
    target: str
    client_ip: str
    user_agent: str
    detail: str


class AuditPage(BaseModel):
    data: list[AuditEventPublic]
    limit: int
    next_before_id: int | None


@router.get("")
def list_audit_events(
    caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
    since: Annotated[UtcDatetime | None, Query(description=SINCE)] = None,
    until: Annotated[UtcDatetime | None, Query(description=UNTIL)] = None,
    subject: Annotated[str | None, Query(max_length=80, description="actor iam_id")] = None,
    action: Annotated[str | None, Query(max_length=128, description="action prefix")] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description=(
        "page: events older than this id (next_before_id of the previous page)"))] = None,
) -> AuditPage:
    """Authentications, tokens issued, admin changes and decisions of the caller's account."""
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, AUDIT_READ)
        rows = trail.list_events(session, account_id=caller.account_id, since=since,
                                 until=until, actor=subject, action=action, outcome=outcome,
                                 limit=limit + 1, before_id=before_id)
    more, rows = len(rows) > limit, rows[:limit]  # one more read: a full last page is last
    return AuditPage(data=[AuditEventPublic.of(r) for r in rows], limit=limit,
                     next_before_id=rows[-1].id if more else None)
