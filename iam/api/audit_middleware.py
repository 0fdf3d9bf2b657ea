"""Every admin call (POST/PUT/PATCH/DELETE under /v1, and every form the web console posts
but its sign-in and sign-out, which are audited as authentications) leaves one audit event.

The middleware opens an `AdminCall` for the request: the client's address and agent, and a
change journal (`iam.store.journal`) into which the domain functions record what they
create, change and delete. `deps.get_journal` hands the journal to the route with the caller
bound to the call; the error mapping (`api/errors`) notes the message of a refusal. When the
answer has gone, the call becomes one event: the route's name as `admin.<name>`, the caller,
the outcome by status, the path, and the journal's before and after when it succeeded (a
failed call's transaction was rolled back: it changed nothing), its error otherwise. No body
is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from iam import client_address
from iam.api.middleware import StatusWatch
from iam.audit.trail import AuditTrail, Event
from iam.client_address import Network
from iam.identity.authn import Principal
from iam.store.journal import ChangeJournal

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
#: Where admin calls are: the API, and the console's forms (`iam.console`), whose route names
#: are the API's (`admin.create_service_id` either way; the path tells which).
ADMIN_PREFIXES = ("/v1/", "/console/")
#: Console forms that are no admin call (audited by `identity.attempts` and the console).
NOT_ADMIN = frozenset({"/console/signin", "/console/signout"})
_STATE = "admin_call"


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    return "denied" if status in (401, 403) else "failure"


@dataclass
class AdminCall:
    """One admin call in flight: where from, by whom, what it changed, why it failed."""

    method: str
    path: str
    client_ip: str
    user_agent: str
    journal: ChangeJournal = field(default_factory=ChangeJournal)
    caller: Principal | None = None
    error: str | None = None

    def event(self, action: str, status: int) -> Event:
        detail: dict[str, Any] = {"status": status, "method": self.method}
        if status < 400:
            detail.update(self.journal.summary())
        elif self.error is not None:
            detail["error"] = self.error
        caller = self.caller
        return Event(action=f"admin.{action}", outcome=_outcome(status),
                     account_id=caller.account_id if caller else "",
                     actor=caller.iam_id if caller else "", target=self.path[:256],
                     client_ip=self.client_ip, user_agent=self.user_agent, detail=detail)


def admin_call(connection: HTTPConnection) -> AdminCall | None:
    """The admin call the request is (None for reads and the paths outside /v1)."""
    call: AdminCall | None = connection.scope.get("state", {}).get(_STATE)
    return call


class AuditChanges:
    def __init__(self, app: ASGIApp, *, trail: AuditTrail,
                 trusted: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.trail = trail
        self.trusted = trusted  # IAM_TRUSTED_PROXIES: whose forwarded headers to believe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in MUTATING
                or not scope["path"].startswith(ADMIN_PREFIXES) or scope["path"] in NOT_ADMIN):
            await self.app(scope, receive, send)
            return
        raw_headers = scope.get("headers") or []
        peer = (scope.get("client") or ("", 0))[0]
        call = AdminCall(
            method=scope["method"], path=scope["path"],
            client_ip=client_address.from_headers(str(peer), raw_headers, self.trusted),
            user_agent=dict(raw_headers).get(b"user-agent", b"").decode("latin-1")[:256])
        scope.setdefault("state", {})[_STATE] = call
        watch = StatusWatch(send)
        try:
            await self.app(scope, receive, watch)
        finally:
            # A 405 comes from a route whose path matched but not its method: its name would
            # say the call was that route's (a DELETE audited as `update_service_id`).
            route = scope.get("route") if watch.status != 405 else None
            name = getattr(route, "name", None) or f"{scope['method']} {scope['path']}"
            self.trail.record(call.event(name, watch.status))
