"""One authentication attempt: brute-force limit first, then audit of the outcome.

Shared by `/identity/token` and the registry's `/token`, so both count failures in the same
limiter (per client IP, per presented credential, per user name) and leave the same trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidGrantError

from iam.audit import Event
from iam.authn import Principal
from iam.errors import Unauthenticated
from iam.runtime import Runtime


@dataclass(frozen=True)
class Client:
    """Where a request comes from (never a credential)."""

    ip: str = ""
    user_agent: str = ""


@dataclass
class Attempt:
    runtime: Runtime
    client: Client
    action: str
    detail: dict[str, Any] = field(default_factory=dict)

    def succeeded(self, principal: Principal, **detail: Any) -> None:
        if principal.apikey_id:
            self.runtime.activity.record(principal.apikey_id)
            detail.setdefault("apikey_id", principal.apikey_id)
        self.runtime.audit.record(Event(
            action=self.action, outcome="success", account_id=principal.account_id,
            actor=principal.iam_id, client_ip=self.client.ip,
            user_agent=self.client.user_agent, detail={**self.detail, **detail}))


@contextmanager
def attempt(runtime: Runtime, client: Client, *, action: str, credential: str | None = None,
            username: str | None = None, **detail: Any) -> Iterator[Attempt]:
    """Refuse (429) a client over its failure limit; count and audit a failure."""
    subjects = runtime.limiter.subjects(client_ip=client.ip, credential=credential,
                                        username=username)
    try:
        runtime.limiter.check(subjects)
    except Exception:
        runtime.audit.record(Event(action=action, outcome="throttled", client_ip=client.ip,
                                   user_agent=client.user_agent, detail=detail))
        raise
    current = Attempt(runtime, client, action, detail)
    try:
        yield current
    except (Unauthenticated, InvalidGrantError):
        runtime.limiter.failed(subjects)
        runtime.audit.record(Event(action=action, outcome="failure", client_ip=client.ip,
                                   user_agent=client.user_agent, detail=detail))
        raise
