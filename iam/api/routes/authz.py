"""`/v1/authz/check`: is this action allowed to this identity on this resource, and why."""

from __future__ import annotations

from fastapi import APIRouter

from iam.access import authz
from iam.access.guard import PolicyAccess
from iam.api.deps import CurrentPrincipal, JournalDep, RuntimeDep
from iam.api.policy_schemas import AuthzAnswer, AuthzCheck, GrantedBy
from iam.errors import Forbidden

router = APIRouter(prefix="/v1/authz", tags=["authorization"])
EXPLAIN = "iam-access-management.policy.list"


@router.post("/check")
def check_access(body: AuthzCheck, caller: CurrentPrincipal, runtime: RuntimeDep,
                 journal: JournalDep) -> AuthzAnswer:
    """Explain a decision. Anyone may ask about itself; about others it takes
    iam-access-management Viewer, or Administrator of the service over that resource.
    The answer is audited with the call."""
    r = body.resource
    target = authz.Target(service=r.service, region=r.region, resource_type=r.resource_type,
                          resource=r.resource, repository=r.repository)
    with runtime.read() as session:
        if body.iam_id != caller.iam_id:
            access = PolicyAccess.of(session, runtime.roles, caller)
            scope = authz.Grant(policy_id="", roles=(), service=r.service, region=r.region,
                                resource_type=r.resource_type, resource=r.resource,
                                repository=r.repository)
            if not (access.account_wide(EXPLAIN) or access.may_manage(scope)):
                raise Forbidden(EXPLAIN)
        result = authz.explain(session, runtime.roles, account_id=caller.account_id,
                               iam_id=body.iam_id, action=body.action, target=target)
    answer = AuthzAnswer(allowed=result.allowed, reason=result.reason,
                         granted_by=[GrantedBy(policy_id=p, roles=list(roles))
                                     for p, roles in result.granted_by])
    journal.record("decision", after=answer.model_dump())
    return answer
