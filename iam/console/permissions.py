"""Which buttons to show: the policy engine asked, for the signed-in identity, which of a
page's actions it holds (`access.guard.allowed`, the function the API's guards use).

Showing is a courtesy only: every form posts to the API's own route function, which checks
again (with the non-escalation rule on top) and refuses what the caller may not do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from iam.access import authz, guard
from iam.access.guard import PolicyAccess
from iam.identity.authn import Principal
from iam.runtime import Runtime


def allowed(runtime: Runtime, principal: Principal, *actions: str,
            resource: Mapping[str, str] | None = None) -> dict[str, bool]:
    """`{action: held}` for each action (account-wide, or on `resource`)."""
    with runtime.read() as session:
        return {action: guard.allowed(session, runtime.roles, principal, action,
                                      dict(resource) if resource else None)
                for action in actions}


def held_somewhere(runtime: Runtime, principal: Principal, action: str) -> bool:
    """Does any policy of the caller (own or its groups') carry `action`, on any scope?
    (The owner holds everything.)"""
    if principal.is_owner:
        return True
    service = action.split(".", 1)[0]
    with runtime.read() as session:
        access = PolicyAccess.of(session, runtime.roles, principal)
    roles = runtime.roles.services.get(service)
    return roles is not None and any(
        g.service == service and action in roles.actions_of(g.roles) for g in access.grants)


def on_namespaces(runtime: Runtime, principal: Principal, action: str,
                  namespaces: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    """`{(region, name): held}` for namespaces of the caller's account: its grants read once,
    each namespace evaluated by the policy engine's pure function (a page of 1,000
    namespaces is one query)."""
    service = action.split(".", 1)[0]
    with runtime.read() as session:
        grants = () if principal.is_owner else tuple(authz.grants_of(
            session, account_id=principal.account_id, iam_id=principal.iam_id,
            service=service))
    return {(region, name): action in authz.evaluate(
        grants, runtime.roles, authz.Target(service=service, region=region,
                                            resource_type=authz.NAMESPACE, resource=name),
        owner=principal.is_owner).actions for region, name in namespaces}
