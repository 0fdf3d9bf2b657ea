"""Authorization of admin calls: does this principal hold this action (on this resource)?

Until policies are evaluated, only the account owner holds actions, and only in its own
account (everything is scoped by account_id in the data layer).
"""

from __future__ import annotations

from sqlmodel import Session

from iam.authn import Principal
from iam.errors import Forbidden


def allowed(session: Session, principal: Principal, action: str,
            resource: dict[str, str] | None = None) -> bool:
    return principal.is_owner


def require(session: Session, principal: Principal, action: str,
            resource: dict[str, str] | None = None) -> None:
    if not allowed(session, principal, action, resource):
        raise Forbidden(action)


def require_key_access(session: Session, principal: Principal, action: str,
                       owner_iam_id: str) -> None:
    """Keys of one's own user are always one's own to manage; others need the action."""
    if principal.kind == "User" and owner_iam_id == principal.iam_id:
        return
    if owner_iam_id.startswith("iam-ServiceId-"):
        require(session, principal, action, {"serviceid": owner_iam_id})
    else:
        require(session, principal, "iam-identity.user.update", {"user": owner_iam_id})
