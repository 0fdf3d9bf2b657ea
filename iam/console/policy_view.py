"""Policies as the console shows them: a subject's policies, each with a sentence saying what
it allows and whether the signed-in identity may change it, and the services whose roles
the signed-in identity may hand out (the check boxes of the "assign access" forms)."""

from __future__ import annotations

from dataclasses import dataclass

from iam.access import authz
from iam.access.guard import PolicyAccess
from iam.access.roles import RoleCatalog, ServiceRoles
from iam.api.policy_schemas import PolicyPublic
from iam.api.routes import policies as api
from iam.errors import Forbidden
from iam.identity.authn import Principal
from iam.runtime import Runtime


@dataclass(frozen=True)
class ShownPolicy:
    policy: PolicyPublic
    scope: str
    allows: str
    #: may the signed-in identity change or remove it (the API decides again)
    manageable: bool = False
    #: its service's roles, the check boxes of its "change roles" form
    service_roles: ServiceRoles | None = None


def grant_of(policy: PolicyPublic) -> authz.Grant:
    """The policy as the engine sees it (what managing it needs, `PolicyAccess.may_manage`)."""
    r = policy.resource
    return authz.Grant(policy_id=policy.id, roles=tuple(policy.roles),
                       service=r.get("service", ""), region=r.get("region", ""),
                       resource_type=r.get("resource_type", ""),
                       resource=r.get("resource", ""), repository=r.get("repository", ""),
                       group_id=policy.subject.get("access_group_id"))


def scope_of(resource: dict[str, str]) -> str:
    """`namespace team-a in us-south, repositories web-*` (empty keys: any)."""
    parts = []
    if resource.get("resource"):
        parts.append(f"{resource.get('resource_type') or 'resource'} {resource['resource']}")
    elif resource.get("service") == "container-registry":
        parts.append("every namespace")
    else:
        parts.append("the whole account")
    if resource.get("region"):
        parts.append(f"in {resource['region']}")
    elif resource.get("service") == "container-registry":
        parts.append("in every region")
    text = " ".join(parts)
    if resource.get("repository"):
        text += f", repositories {resource['repository']}"
    return text


def allows(catalog: RoleCatalog, service: str, roles: list[str]) -> str:
    """What these roles of `service` allow, in the words of the role file."""
    svc = catalog.services.get(service)
    if svc is None:
        return ""
    held = svc.actions_of(roles)
    texts = [svc.actions[a] for a in svc.actions if a in held]
    return "; ".join(texts) if texts else "nothing"


def of_subject(runtime: Runtime, principal: Principal, *, iam_id: str | None = None,
               group_id: str | None = None) -> list[ShownPolicy] | None:
    """The subject's policies the caller may read (None: it may read none of them)."""
    try:
        found = api.list_policies(caller=principal, runtime=runtime, iam_id=iam_id,
                                  access_group_id=group_id, service=None, limit=1000,
                                  pagestart=None)
    except Forbidden:
        return None
    with runtime.read() as session:
        access = PolicyAccess.of(session, runtime.roles, principal)
    return [ShownPolicy(p, scope_of(p.resource),
                        allows(runtime.roles, p.resource.get("service", ""), p.roles),
                        manageable=access.may_manage(grant_of(p)),
                        service_roles=runtime.roles.services.get(p.resource.get("service", "")))
            for p in found.data]


def grantable(runtime: Runtime, principal: Principal) -> list[ServiceRoles]:
    """The services on which the caller may hand out roles somewhere (whether on the scope
    it then picks is the API's to decide)."""
    with runtime.read() as session:
        access = PolicyAccess.of(session, runtime.roles, principal)
    found = []
    for name, svc in sorted(runtime.roles.services.items()):
        everywhere = authz.Grant(policy_id="", roles=(), service=name)
        manage = authz.manage_action(name)
        held = runtime.roles.services[name].actions_of
        if access.may_manage(everywhere) or any(
                g.service == name and manage in held(g.roles) for g in access.grants):
            found.append(svc)
    return found
