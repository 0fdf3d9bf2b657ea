"""The write transaction of an admin call that changes an identity (a service ID or a user):
its action, then the non-escalation rule over everything the identity holds
(`access.guard.require_identity_change`), before the route's one domain call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from iam.access import guard
from iam.identity.authn import Principal
from iam.runtime import Runtime


@contextmanager
def identity_change(runtime: Runtime, caller: Principal, action: str,
                    target: str) -> Iterator[Session]:
    """A write session in which `caller` may apply `action` to the identity `target`
    (its id or iam_id); Forbidden before anything is written otherwise."""
    with runtime.write() as session:
        guard.require_identity_change(session, runtime.roles, caller, action, target,
                                      registry_operators=runtime.settings.registry_operators)
        yield session
