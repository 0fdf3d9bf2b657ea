"""The non-escalation rule: nobody hands out more than it could grant itself.

A caller's *authority* is the set of policies it could create (`authz.can_administer`): the
owner's is everything in its account, an iam-access-management Administrator's any policy of
the account, a `<service>` Administrator's that service's policies within its own scope.
Every grant-like operation is allowed only when everything its target carries afterwards lies
within that authority:

- a credential, the password, the name, the lock or the deletion of identity X: every policy X
  holds, its own and its access groups', is one the caller could grant (X itself is exempt:
  a credential of one's own carries exactly what one holds);
- a member added to or removed from group G, or G deleted: every policy of G is;
- a policy created, changed or deleted: its scope is (before and after, for a change).

Identities that carry what no policy can grant are managed by themselves only: the account
owner and the system operator, and the registry operators named in `IAM_REGISTRY_OPERATORS`
(these also by the system operator). The routes call this module for the target; the plain
action (`iam-identity.apikey.create`...) is checked first by `iam.access.guard`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlmodel import Session, select

from iam.access import authz, roles
from iam.errors import Forbidden
from iam.identity.authn import Principal
from iam.store.models import Account, Policy

#: The action named by a 403 for an identity no policy can reach (owner, operators).
SELF_ONLY = "iam-identity.self"


def scope_text(scope: authz.Grant) -> str:
    parts = [f"namespace {scope.resource}" if scope.resource else "",
             f"repositories {scope.repository}" if scope.repository else "",
             f"region {scope.region}" if scope.region else ""]
    where = " ".join(p for p in parts if p)
    return f" on {where}" if where else ""


@dataclass(frozen=True)
class Authority:
    """What one caller could grant: its own grants, read once per request, and the roles
    they stand for (the runtime's catalog)."""

    principal: Principal
    grants: tuple[authz.Grant, ...]
    catalog: roles.RoleCatalog

    @classmethod
    def of(cls, session: Session, catalog: roles.RoleCatalog,
           principal: Principal) -> Authority:
        grants = () if principal.is_owner else tuple(authz.grants_of(
            session, account_id=principal.account_id, iam_id=principal.iam_id))
        return cls(principal, grants, catalog)

    def may_grant(self, scope: authz.Grant) -> bool:
        return authz.can_administer(self.grants, self.catalog, scope,
                                    owner=self.principal.is_owner)

    def require_grant(self, scope: authz.Grant, *, because: str = "") -> None:
        """Forbidden naming the manage action and scope the caller lacks."""
        if not self.may_grant(scope):
            action = authz.manage_action(scope.service)
            raise Forbidden(action, f"missing action {action}{scope_text(scope)}{because}")

    def require_all(self, scopes: Iterable[authz.Grant], *, because: str) -> None:
        for scope in scopes:
            self.require_grant(scope, because=because)

    # -- targets ---------------------------------------------------------------------------

    def require_identity(self, session: Session, target_iam_id: str, *,
                         registry_operators: Collection[str] = ()) -> None:
        """May the caller give, change or take away anything of identity `target_iam_id`
        (same account; the caller has already been checked for the plain action)?"""
        caller = self.principal
        if target_iam_id == caller.iam_id or "\x00" in target_iam_id:
            return  # one's own; or no identity at all (PostgreSQL refuses NUL): the caller 404s
        account = session.get(Account, caller.account_id)
        if account is not None and account.owner_iam_id == target_iam_id:
            who = "system operator" if account.is_system else "account owner"
            raise Forbidden(SELF_ONLY, f"the {who}'s identity is managed only by itself")
        if target_iam_id in registry_operators and not caller.is_operator:
            raise Forbidden(SELF_ONLY, "a registry operator's identity is managed only by "
                                       "itself and the system operator")
        held = authz.grants_of(session, account_id=caller.account_id, iam_id=target_iam_id)
        for grant in held:
            via = f" (through its access group {grant.group_id})" if grant.group_id else ""
            self.require_grant(grant, because=f": {target_iam_id} holds policy "
                                              f"{grant.policy_id}{via}, which you could not "
                                              "grant")

    def require_group(self, session: Session, group_id: str) -> None:
        """May the caller change who carries the policies of group `group_id`?"""
        if "\x00" in group_id:
            return  # no such group (PostgreSQL refuses NUL in text): the caller answers 404
        rows = session.exec(select(Policy).where(
            Policy.subject_group_id == group_id,
            Policy.account_id == self.principal.account_id)).all()
        for row in rows:
            self.require_grant(authz.Grant.of(row), because=f": access group {group_id} holds "
                               f"policy {row.id}, which you could not grant")
