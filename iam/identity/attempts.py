"""One authentication attempt: the failure limit, and the audit of the outcome.

Shared by `/identity/token` and the registry's `/token`, so both count failures in the same
limiter and leave the same trail. A key or token is checked first and a success never meets
the limiter (the hot path); a failure counts against the client's address and may turn into
429. A password meets the limiter before its argon2 hash (`iam.identity.ratelimit`).

Every failure is recorded in the system account's trail (the operator sees them all) and,
when the credential names a known identity (a disabled key, a wrong password of an existing
user, a refresh token of a deleted key...), in that identity's account too: with the reason,
the key id or at most four characters of an unknown key, never the secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from iam.audit.activity import ActivityRecorder
from iam.audit.trail import AuditTrail, Event
from iam.errors import Forbidden, RateLimited, Unauthenticated
from iam.identity.apikey_format import PREFIX
from iam.identity.authn import Principal
from iam.identity.ratelimit import FailureLimiter
from iam.metrics.instruments import ENDPOINTS, NO_METRICS, TokenOutcomes

KEY_HINT = 4  # characters after `riam_`: tells keys apart in the trail, 24 of 256 bits


@dataclass(frozen=True)
class Client:
    """Where a request comes from (never a credential)."""

    ip: str = ""
    user_agent: str = ""


def key_hint(credential: str | None) -> str:
    """`riam_` and the next few characters of a presented key; nothing for anything else."""
    if credential and credential.startswith(PREFIX):
        return credential[:len(PREFIX) + KEY_HINT]
    return ""


@dataclass(frozen=True)
class Attempts:
    """The failure limits and the trail of authentication attempts, with the parts they use
    (built once by the runtime). `system_account_id` names the account every failure is
    recorded in ("" while it cannot be read); `outcomes` counts tokens issued and refused
    (the metrics), by the registry an attempt names (`service=`)."""

    limiter: FailureLimiter
    audit: AuditTrail
    activity: ActivityRecorder
    system_account_id: Callable[[], str]
    outcomes: TokenOutcomes = NO_METRICS.tokens

    @contextmanager
    def attempt(self, client: Client, *, action: str, credential: str | None = None,
                username: str | None = None, **detail: Any) -> Iterator[Attempt]:
        """Authenticate inside; a failure is counted, recorded and re-raised (or 429).

        `username` marks a password attempt, refused (429) before it is checked when its
        address or its name from that address is over the limit. `credential` (a key or
        token) is used only for the few characters of an unknown key the trail shows.
        """
        if username is not None:
            try:
                self.limiter.check_password(client_ip=client.ip, username=username)
            except RateLimited:
                self.record_failure(client, Unauthenticated(reason="throttled"),
                                    action=action, throttled=True, username=username, **detail)
                raise
        current = Attempt(self, client, action, detail)
        try:
            yield current
        except Unauthenticated as exc:
            self.refuse(client, exc, action=action, credential=credential, username=username,
                        **detail)
            raise

    def refuse(self, client: Client, failure: Unauthenticated, *, action: str,
               credential: str | None = None, username: str | None = None,
               **detail: Any) -> None:
        """Count a failure against the client's address and record it; raises RateLimited
        (recorded as throttled) when the address is over its limit."""
        try:
            if username is None:
                self.limiter.key_failed(client_ip=client.ip)
            else:
                self.limiter.password_failed(client_ip=client.ip, username=username)
        except RateLimited:
            self.record_failure(client, failure, action=action, throttled=True,
                                credential=credential, username=username, **detail)
            raise
        self.record_failure(client, failure, action=action, credential=credential,
                            username=username, **detail)

    def record_failure(self, client: Client, failure: Unauthenticated, *, action: str,
                       throttled: bool = False, credential: str | None = None,
                       username: str | None = None, **detail: Any) -> None:
        """Into the system account's trail, and the trail of the account the failure names."""
        reason = "throttled" if throttled else failure.reason
        if throttled:
            self.outcomes.throttled(action)
        if action in ENDPOINTS:
            self.outcomes.refused(action, str(detail.get("service", "")), reason)
        facts: dict[str, Any] = {**detail, "reason": reason}
        if throttled and failure.reason != "throttled":
            facts["cause"] = failure.reason
        if failure.apikey_id:
            facts["apikey_id"] = failure.apikey_id
        elif hint := key_hint(credential):
            facts["key_prefix"] = hint
        if username is not None:
            facts["username"] = username[:64]
        readers = dict.fromkeys(a for a in (self.system_account_id(), failure.account_id) if a)
        for account_id in readers or [""]:
            self.audit.record(Event(
                action=action, outcome="throttled" if throttled else "failure",
                account_id=account_id, actor=failure.iam_id, client_ip=client.ip,
                user_agent=client.user_agent, detail=facts))

    @contextmanager
    def own_password_change(self, client: Client, principal: Principal) -> Iterator[None]:
        """Changing one's own password checks the current one: limited and recorded like a
        password login, so a stolen access token cannot try current passwords at will."""
        action = "iam-identity.user.password"
        try:
            self.limiter.check_password(client_ip=client.ip, username=principal.name)
        except RateLimited:
            self.record_failure(client, Unauthenticated(reason="throttled"), action=action,
                                throttled=True, username=principal.name)
            raise
        try:
            yield
        except Forbidden:
            self.refuse(client, Unauthenticated(
                reason="wrong_password", account_id=principal.account_id,
                iam_id=principal.iam_id), action=action, username=principal.name)
            raise


@dataclass
class Attempt:
    """The attempt in progress: `succeeded` records its success (and the key's use)."""

    attempts: Attempts
    client: Client
    action: str
    detail: dict[str, Any] = field(default_factory=dict)

    def succeeded(self, principal: Principal, **detail: Any) -> None:
        self.attempts.outcomes.issued(self.action, self.detail.get("service", ""))
        if principal.apikey_id:
            self.attempts.activity.record(principal.apikey_id)
            detail.setdefault("apikey_id", principal.apikey_id)
        if principal.workload is not None:  # a trusted profile: which workload, which rule
            detail.setdefault("workload", {"iss": principal.workload.iss,
                                           "sub": principal.workload.sub})
            detail.setdefault("rule_id", principal.workload.rule_id)
        self.attempts.audit.record(Event(
            action=self.action, outcome="success", account_id=principal.account_id,
            actor=principal.iam_id, client_ip=self.client.ip,
            user_agent=self.client.user_agent, detail={**self.detail, **detail}))
