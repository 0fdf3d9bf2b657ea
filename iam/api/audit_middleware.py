"""Every admin change (POST/PUT/PATCH/DELETE under /v1) leaves an audit event.

The event names the route (`create_service_id`...), the caller (set on `request.state` by
the principal dependency), the outcome by status, the path, and the resulting entity
(`after`) with secret fields removed. Routes that change or delete an entity may put its
prior public shape in `request.state.audit_before`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iam import client_address
from iam.audit.trail import AuditTrail, Event
from iam.client_address import Network

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
SECRET_FIELDS = {"apikey", "password", "access_token", "refresh_token", "token"}
MAX_CAPTURE = 64 * 1024


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_FIELDS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    return "denied" if status in (401, 403) else "failure"


class AuditChanges:
    def __init__(self, app: ASGIApp, *, trail: AuditTrail,
                 trusted: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.trail = trail
        self.trusted = trusted  # IAM_TRUSTED_PROXIES: whose forwarded headers to believe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in MUTATING
                or not scope["path"].startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        status = 500
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and len(body) < MAX_CAPTURE:
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._record(scope, status, bytes(body))

    def _record(self, scope: Scope, status: int, body: bytes) -> None:
        state = scope.get("state", {})
        principal = state.get("principal")
        route = scope.get("route")
        name = getattr(route, "name", None) or f"{scope['method']} {scope['path']}"
        detail: dict[str, Any] = {"status": status, "method": scope["method"]}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        if status < 400 and parsed is not None:
            detail["after"] = redact(parsed)
        elif parsed is not None and isinstance(parsed, dict) and parsed.get("errors"):
            detail["error"] = parsed["errors"][0].get("message", "")
        if "audit_before" in state:
            detail["before"] = redact(state["audit_before"])
        client = scope.get("client") or ("", 0)
        raw_headers = scope.get("headers") or []
        headers = dict(raw_headers)
        self.trail.record(Event(
            action=f"admin.{name}", outcome=_outcome(status),
            account_id=getattr(principal, "account_id", ""),
            actor=getattr(principal, "iam_id", ""), target=scope["path"][:256],
            client_ip=client_address.from_headers(str(client[0]), raw_headers, self.trusted),
            user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:256],
            detail=detail))
