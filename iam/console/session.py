"""The browser side of a console session: its cookie, the signed-in visitor of a request,
and the anti-forgery check every form that changes anything passes.

- The cookie (`iam_console`) holds the session's random token: `HttpOnly` (no script reads
  it), `SameSite=Strict` (no other site's page sends it), `Secure` when the console is
  reached over TLS (the request's scheme, or an `https` `IAM_PUBLIC_URL` behind a proxy),
  `Path=/console`. No expiry of its own: the server ends the session (idle timeout,
  absolute lifetime, sign-out).
- Every POST carries `csrf_token`, an HMAC of the session token (`console_sessions.
  csrf_token`): a page of another origin can neither read it nor send the cookie. It is
  compared in constant time; a POST whose `Origin` or `Referer` names another origin is
  refused as well. The sign-in form, before any session exists, carries a token bound to a
  short-lived pre-session cookie (no login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from iam import client_address
from iam.api.audit_middleware import admin_call
from iam.api.deps import RuntimeDep
from iam.errors import Unauthenticated
from iam.identity import console_sessions
from iam.identity.attempts import Client
from iam.identity.authn import Principal
from iam.runtime import Runtime
from iam.store.journal import ChangeJournal

COOKIE = "iam_console"
SIGNIN_COOKIE = "iam_console_signin"
PATH = "/console"
_SIGNIN_CONTEXT = b"console-signin\x00"


class SignInRequired(Exception):
    """Raised when a console page is asked for without a live session."""

    def __init__(self, ended: bool = False) -> None:
        super().__init__("sign in required")
        self.ended = ended


class ForgedRequest(Exception):
    """Raised when a form arrives without this session's anti-forgery token, or from
    another origin."""


def is_secure(request: Request, runtime: Runtime) -> bool:
    return (request.url.scheme == "https"
            or runtime.settings.public_url.lower().startswith("https://"))


def set_cookie(response: Response, request: Request, runtime: Runtime, name: str,
               value: str) -> None:
    response.set_cookie(name, value, path=PATH, httponly=True, samesite="strict",
                        secure=is_secure(request, runtime))


def clear_cookie(response: Response, request: Request, runtime: Runtime, name: str) -> None:
    response.delete_cookie(name, path=PATH, httponly=True, samesite="strict",
                           secure=is_secure(request, runtime))


def client_of(request: Request, runtime: Runtime) -> Client:
    """The client's address (forwarded headers only from `IAM_TRUSTED_PROXIES`) and agent."""
    peer = request.client.host if request.client else ""
    ip = client_address.from_headers(peer, request.scope["headers"],
                                     runtime.settings.trusted_networks)
    return Client(ip=ip, user_agent=request.headers.get("user-agent", "")[:256])


@dataclass(frozen=True)
class Visitor:
    """The signed-in identity of one console request."""

    principal: Principal
    session_id: str
    csrf: str


def get_visitor(request: Request, runtime: RuntimeDep) -> Visitor:
    """The visitor behind the session cookie, its identity and credential re-checked; a
    page without one redirects to the sign-in form."""
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise SignInRequired()
    settings, secret = runtime.settings, runtime.secret
    try:
        with runtime.read() as session:
            current = console_sessions.current_session(
                session, secret=secret, token=token, idle=settings.console_idle_seconds)
    except Unauthenticated:
        raise SignInRequired(ended=True) from None
    if console_sessions.needs_touch(current.row):
        with runtime.write() as session:
            console_sessions.touch(session, session_id=current.row.id)
    call = admin_call(request)
    if call is not None:
        call.caller = current.principal
    return Visitor(principal=current.principal, session_id=current.row.id,
                   csrf=console_sessions.csrf_token(token, secret))


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


class Form:
    """A posted form's text fields (files are ignored)."""

    def __init__(self, data: FormData) -> None:
        self._data = data

    def get(self, name: str) -> str:
        value = self._data.get(name)
        return value.strip() if isinstance(value, str) else ""

    def raw(self, name: str) -> str:
        """The value as typed (passwords: no stripping)."""
        value = self._data.get(name)
        return value if isinstance(value, str) else ""

    def getlist(self, name: str) -> list[str]:
        return [v for v in self._data.getlist(name) if isinstance(v, str)]

    def values(self) -> dict[str, str]:
        """The fields to show back in a form that failed (never a secret)."""
        return {k: v for k, v in self._data.items()
                if isinstance(v, str) and k not in ("csrf_token", "password",
                                                    "current_password", "apikey")}


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another origin."""
    here = f"{request.url.scheme}://{request.url.netloc}".lower()
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin.lower() == here
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == here
    return True  # neither sent (a browser with referrers off): the token decides


async def get_form(request: Request, visitor: VisitorDep) -> Form:
    """The posted form, once its anti-forgery token and origin are checked."""
    data = await request.form()
    token = data.get("csrf_token")
    if (not isinstance(token, str) or not same_origin(request)
            or not hmac.compare_digest(token.encode(), visitor.csrf.encode())):
        raise ForgedRequest()
    return Form(data)


FormDep = Annotated[Form, Depends(get_form)]


def get_journal(request: Request, visitor: VisitorDep) -> ChangeJournal:
    """The change journal of this console form, whose audit event names the visitor."""
    call = admin_call(request)
    if call is None:
        raise RuntimeError(f"{request.method} {request.url.path} is no audited console form")
    call.caller = visitor.principal
    return call.journal


JournalDep = Annotated[ChangeJournal, Depends(get_journal)]


def note_refusal(request: Request, message: str) -> None:
    """The reason a console form was refused, for its audit event."""
    call = admin_call(request)
    if call is not None:
        call.error = message


# -- the sign-in form's anti-forgery token, before any session exists ----------------------

def signin_token(pre_session: str, secret: bytes) -> str:
    return hmac.new(secret, _SIGNIN_CONTEXT + pre_session.encode(), hashlib.sha256).hexdigest()


def new_pre_session() -> str:
    return secrets.token_urlsafe(24)


def signin_form_ok(request: Request, runtime: Runtime, token: str) -> bool:
    pre = request.cookies.get(SIGNIN_COOKIE, "")
    if not pre or len(pre) > 64 or not same_origin(request):
        return False
    return hmac.compare_digest(token.encode(), signin_token(pre, runtime.secret).encode())
